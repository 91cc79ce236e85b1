"""sampan's embedded trace store (``sampan up --trace``): components export spans to it as JSON
(:class:`sampan._lib.trace_export.StoreSink`); it keeps the latest spans in memory, correlates them by the
object's uid and resourceVersion and answers ``sampan trace`` (:mod:`.store`, :mod:`.server`,
:mod:`.timeline`)."""
