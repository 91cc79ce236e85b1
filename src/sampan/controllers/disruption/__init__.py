"""The disruption controller: PodDisruptionBudget status (see :mod:`.controller`, and :mod:`.expected` for
how many pods a budget's controllers want)."""
