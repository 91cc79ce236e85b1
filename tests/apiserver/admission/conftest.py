from tests.apiserver.conftest import api  # noqa: F401  (the JSON client fixture over the in-process server)
