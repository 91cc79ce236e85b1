"""Programs one nftables table: full and partial syncs through ``nft -f``.

The backend remembers, per Service, the fragment the kernel holds (``applied``) and which Service owns
each map/set element (``owners``). A partial sync diffs only the changed Services' fragments; a full
sync lists the table's per-service chains and sets from the kernel (so leftovers of an earlier run are
removed) and rewrites everything in one transaction. A failed transaction changes nothing in the kernel
(nft transactions are atomic) and leaves ``applied`` untouched; the caller then asks for a full sync.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping

import orjson

from sampan.proxy.model import ServiceKey
from sampan.proxy.nftables import names
from sampan.proxy.nftables.fragments import Fragment, Scope, service_fragment
from sampan.proxy.nftables.ruleset import (
    Delta,
    TableConfig,
    delete_table_text,
    diff,
    full_transaction,
    merge,
    transaction_text,
)
from sampan.proxy.snapshot import ServiceState

log = logging.getLogger(__name__)

EMPTY = Fragment()


class NftError(Exception):
    """``nft`` failed; the message carries its stderr."""


def nft_binary() -> str | None:
    return shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)


async def run_nft(*args: str, stdin: str | None = None) -> str:
    binary = nft_binary()
    if binary is None:
        raise NftError("the nft binary (nftables) is not installed")
    proc = await asyncio.create_subprocess_exec(
        binary, *args, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip()
        raise NftError(f"nft {' '.join(args)}: {text[:2000] or f'exit status {proc.returncode}'}")
    return out.decode(errors="replace")


async def list_tables(prefix: str = "sampan") -> list[str]:
    """Names of the ``ip`` tables whose name starts with ``prefix``."""
    doc = orjson.loads(await run_nft("-j", "list", "tables", "ip"))
    return sorted(o["table"]["name"] for o in doc.get("nftables", ())
                  if "table" in o and o["table"].get("name", "").startswith(prefix))


async def list_service_objects(table: str) -> tuple[set[str], set[str]]:
    """The per-service chains and sets in ``table`` (empty when the table does not exist). Lists chain and
    set declarations only (``list chains`` / ``list sets``, terse), not rules: ~10x cheaper than listing
    the table."""
    chains: set[str] = set()
    sets: set[str] = set()
    for kind, found in (("chains", chains), ("sets", sets)):
        text = await run_nft("-j", "-t", "list", kind, "ip")
        for o in orjson.loads(text).get("nftables", ()):
            obj = o.get(kind[:-1])
            if obj and obj.get("table") == table and names.is_service_object(obj.get("name", "")):
                found.add(obj["name"])
    return chains, sets


async def delete_table(table: str) -> None:
    await run_nft("-f", "-", stdin=delete_table_text(table))


class NftablesBackend:
    name = "nftables"

    def __init__(self, config: TableConfig) -> None:
        self.config = config
        self.applied: dict[ServiceKey, Fragment] = {}
        self.owners: dict[tuple[str, str], ServiceKey] = {}
        self.last_transaction_lines = 0
        self.kernel_known = False
        """Whether ``applied`` is known to match the kernel's per-service objects (false at start and after
        a failed transaction: the next full sync lists the kernel's chains and sets)."""

    @property
    def scope(self) -> Scope:
        return self.config.scope

    def fragment(self, state: ServiceState | None) -> Fragment:
        if state is None:
            return EMPTY
        return service_fragment(state.ports, state.endpoints, self.scope)

    async def sync_full(self, services: Mapping[ServiceKey, ServiceState]) -> None:
        fragments = {k: self.fragment(services[k]) for k in sorted(services)}
        if self.kernel_known:
            old = merge(self.applied.values())
            chains, sets = set(old.chains), set(old.affinity_sets)
        else:
            chains, sets = await list_service_objects(self.config.table)
        text = full_transaction(self.config, fragments.values(), existing_chains=chains, existing_sets=sets)
        await self._apply(text)
        self.kernel_known = True
        self.applied = fragments
        self.owners = {}
        for key, frag in fragments.items():
            for element in frag.elements:
                self.owners.setdefault(element, key)

    async def sync_partial(self, changed: Mapping[ServiceKey, ServiceState | None]) -> None:
        deltas: list[Delta] = []
        new_owners = dict(self.owners)
        fragments: dict[ServiceKey, Fragment] = {}
        for key in sorted(changed):
            new = self.fragment(changed[key])
            d = diff(self.applied.get(key, EMPTY), new)
            d.delete_elements = [e for e in d.delete_elements if new_owners.get(e) == key]
            for e in d.delete_elements:
                if e not in new.elements:
                    del new_owners[e]
            adds = {}
            for e, v in d.add_elements.items():
                if new_owners.setdefault(e, key) == key:
                    adds[e] = v
                else:
                    log.warning("virtual address already used by another service element=%s service=%s owner=%s",
                                e[1], key, new_owners[e])
            d.add_elements = adds
            deltas.append(d)
            fragments[key] = new
        total = Delta()
        for d in deltas:
            total.write_chains.update(d.write_chains)
            total.delete_chains += d.delete_chains
            total.add_sets.update(d.add_sets)
            total.delete_sets += d.delete_sets
            total.add_elements.update(d.add_elements)
            total.delete_elements += d.delete_elements
        if not total.empty():
            await self._apply(transaction_text(self.config, total))
        for key, frag in fragments.items():
            if frag.chains or frag.elements:
                self.applied[key] = frag
            else:
                self.applied.pop(key, None)
        self.owners = new_owners

    async def _apply(self, text: str) -> None:
        self.last_transaction_lines = text.count("\n")
        try:
            await run_nft("-f", "-", stdin=text)
        except NftError:
            self.kernel_known = False
            raise

    async def cleanup(self) -> None:
        await delete_table(self.config.table)
        self.applied, self.owners = {}, {}

    def programmed(self) -> Fragment:
        """Everything this backend believes the kernel holds (tests)."""
        return merge(self.applied.values())
