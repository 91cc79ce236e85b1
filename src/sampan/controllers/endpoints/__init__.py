"""The Endpoints controller: one ``Endpoints`` object per Service with a selector, listing the selected
pods' IPs as ready or not-ready addresses with the Service's target ports resolved per pod. ``pods``
holds the pod/port rules shared with the EndpointSlice controller; ``controller`` is the loop."""
