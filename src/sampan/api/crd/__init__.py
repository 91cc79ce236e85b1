"""apiextensions.k8s.io/v1 CustomResourceDefinitions as plain dicts, pure functions only:

* ``spec``       — accessors (names, versions, schemas, subresources, columns) and upstream's defaults;
* ``validation`` — the CRD's own validation, upstream paths and wording;
* ``naming``     — the status (``NamesAccepted``/``Established``/``Terminating``) given the other CRDs;
* ``scale``      — the autoscaling/v1 ``Scale`` view at the CRD's JSON paths;
* ``openapi``    — the OpenAPI v3 definitions a served version publishes.

The API server's CRD strategy and custom-resource strategy factory are built on them.
"""
