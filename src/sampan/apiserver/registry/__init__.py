"""One strategy per built-in resource: defaults, validation, which fields are status, selectable fields
and table columns. :mod:`sampan.apiserver.registry.strategy` defines the contract; ``catalog`` lists
every served resource."""
