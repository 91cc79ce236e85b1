"""The ServiceAccount controller: every namespace that is not terminating has a ``default`` ServiceAccount
(upstream's ``serviceaccounts-controller``; tokens are another controller's job)."""
