"""The Namespace controller: empties a Terminating namespace of every namespaced resource the server
serves, then removes the ``kubernetes`` finalizer through the ``finalize`` subresource so the API
server can delete the namespace. ``discovery`` lists the resources; ``controller`` is the loop."""
