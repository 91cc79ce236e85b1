"""``--token-auth-file``: static bearer tokens from a CSV file, read once at start (as upstream).

Each line: ``token,user,uid,"group1,group2"`` (the groups column is optional); blank lines are ignored.
A malformed file stops the server with one line naming the file and line.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sampan.apiserver.authn.groups import AUTHENTICATED
from sampan.apiserver.userinfo import UserInfo


def parse_token_file(path: Path) -> dict[str, UserInfo]:
    """Token -> user; ValueError with ``path:line`` for a bad line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read token auth file {path}: {exc.strerror}") from None
    users: dict[str, UserInfo] = {}
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise ValueError(f"{path}:{lineno}: token file lines need at least 3 columns (token,user,uid)")
        token, name, uid = (c.strip() for c in row[:3])
        if not token or not name:
            raise ValueError(f"{path}:{lineno}: empty token or user name")
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        users[token] = UserInfo(name, uid=uid, groups=(*groups, AUTHENTICATED))
    return users


class StaticTokens:
    def __init__(self, users: dict[str, UserInfo]) -> None:
        self._users = users

    @classmethod
    def from_file(cls, path: Path) -> StaticTokens:
        return cls(parse_token_file(path))

    async def authenticate_token(self, token: str) -> UserInfo | None:
        return self._users.get(token)
