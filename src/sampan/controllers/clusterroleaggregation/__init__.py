"""The clusterrole-aggregation controller: ClusterRoles with an ``aggregationRule`` get the rules of the
ClusterRoles its selectors pick (``admin``/``edit``/``view`` and users' own aggregated roles)."""
