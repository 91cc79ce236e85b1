"""The resource-quota controller: keeps every ResourceQuota's ``status.hard`` equal to ``spec.hard`` and
``status.used`` equal to what its namespace really holds (see :mod:`.controller`)."""
