"""Re-linking, decided (pure): the moves that give every linked source id its asset.

Coins loaded before the linker knew them (no reference data yet, a rename, a contract that
arrived later) sit on the asset their ``symbol:name`` key gave them. Once the links say
otherwise, each such source id moves to the asset of its decided identity key, **with its
observations** (nothing lost, nothing duplicated: observations are unique per source id,
only their asset changes), and:

- an asset left without mappings is *merged*: ``alias_of`` points at the asset that took its
  source ids, so its id and its key keep resolving (the API redirects), never 404;
- an asset whose key some link wants keeps that key and is filled by that key's coins;
- a source id left on a target beside the newcomer of its own source (an id no longer
  listed) is split off onto an asset of its own, since an asset holds one id per source.

:func:`plan_relink` is the decision; ``identity.reconcile`` reads the store and applies it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

# Methods that join coins (``new``: alone). ``symbol_name`` and ``market_cap_tiebreak`` are
# the methods of links written before identity v3, still read until their next relink.
PAIR_METHODS: Final = frozenset(
    {"manual", "override", "contract", "name", "market", "symbol_name", "market_cap_tiebreak"}
)
SourceId = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Wanted:
    key: str
    method: str
    confidence: Any
    evidence: str | None


@dataclass(frozen=True, slots=True)
class Mapped:
    asset_id: int
    method: str
    confidence: Any
    evidence: str | None


@dataclass(slots=True)
class RelinkPlan:
    # Keys with no asset yet: created (key -> a member whose symbol/name the asset takes).
    create: dict[str, SourceId] = field(default_factory=dict)
    # Keys registered as aliases of an existing asset (key -> asset id).
    alias_keys: dict[str, int] = field(default_factory=dict)
    # (source id, from asset, to key): the key resolves to the target after create/alias.
    moves: list[tuple[SourceId, int, str]] = field(default_factory=list)
    # Assets left empty: asset id -> key of the target they merge into.
    merges: dict[int, str] = field(default_factory=dict)
    # Mappings whose method/evidence change: source id -> (method, confidence, evidence).
    relabel: dict[SourceId, tuple[str, Any, str | None]] = field(default_factory=dict)
    target_of: dict[str, int | None] = field(default_factory=dict)  # key -> asset (None: new)
    # Merged assets made assets again: their key names a coin apart from the merge target
    # (a reviewer rejected the pair, a contract proved them different). id -> a member.
    revive: dict[int, SourceId] = field(default_factory=dict)


def plan_relink(
    mapped: Mapping[SourceId, Mapped],
    wanted: Mapping[SourceId, Wanted],
    asset_of_key: Mapping[str, int],
    key_of_asset: Mapping[int, str],
    aliased: Mapping[str, int] | None = None,
    source_order: Sequence[str] = (),
) -> RelinkPlan:
    """Decide the moves that give every mapped, linked source id the asset of its key.

    ``mapped``: every mapping (all sources); ``wanted``: the linker's identity of each listed
    coin; ``asset_of_key``: key -> the asset it resolves to (aliases followed);
    ``key_of_asset``: asset -> its own key (assets that are not aliases); ``aliased``: key
    -> the merged asset whose key it is, for keys that resolve through a merge;
    ``source_order``: whose asset a new group takes first (the registry's order; sources
    not named come after, by name)."""
    aliased = aliased or {}
    rank = {source: i for i, source in enumerate(source_order)}
    plan = RelinkPlan()
    groups: dict[str, list[SourceId]] = defaultdict(list)
    for sid, want in wanted.items():
        if sid in mapped:
            groups[want.key].append(sid)
    link_keys = {w.key for w in wanted.values()}
    claimed: set[int] = set()
    for key in sorted(groups):
        owner = asset_of_key.get(key)
        if owner is not None and key not in aliased:
            plan.target_of[key] = owner
            claimed.add(owner)
    for key in sorted(k for k in groups if k in aliased):
        owner = asset_of_key[key]
        if owner not in claimed:
            plan.target_of[key] = owner  # the merge stands: the coins are one
        else:
            # The merge target is another coin's asset now: the merged asset lives again.
            plan.target_of[key] = aliased[key]
            plan.revive[aliased[key]] = sorted(groups[key])[0]
        claimed.add(plan.target_of[key] or 0)
    # An asset whose own key a link wants belongs to that key's group, mapped or not yet.
    owned = {aid for aid, key in key_of_asset.items() if key in link_keys}
    for key in sorted(groups):
        if key in plan.target_of:
            continue
        members = sorted(groups[key], key=lambda s: (rank.get(s[0], len(rank)), s[0], s[1]))
        for member in members:
            aid = mapped[member].asset_id
            if aid not in claimed and aid not in owned:
                plan.target_of[key] = aid
                plan.alias_keys[key] = aid
                claimed.add(aid)
                break
        else:
            plan.target_of[key] = None
            plan.create[key] = members[0]

    def target(key: str) -> int | None:
        return plan.target_of[key]

    # Moves of linked ids.
    holders: dict[int, list[SourceId]] = defaultdict(list)
    for sid, m in mapped.items():
        holders[m.asset_id].append(sid)
    leaving: set[SourceId] = set()
    for key, members in groups.items():
        for sid in members:
            if mapped[sid].asset_id != target(key):
                plan.moves.append((sid, mapped[sid].asset_id, key))
                leaving.add(sid)
    # Same-source neighbours on a target: the newcomer stays, the unlisted id is split off.
    arriving: dict[int, set[str]] = defaultdict(set)
    for sid, _, key in plan.moves:
        existing = target(key)
        if existing is not None:  # a new asset holds nothing yet
            arriving[existing].add(sid[0])
    for where, sources in list(arriving.items()):
        for sid in holders.get(where, ()):
            if sid in leaving or sid[0] not in sources or sid in wanted:
                continue
            split_key = f"{sid[0]}:{sid[1]}"
            if asset_of_key.get(split_key) == where:
                split_key += "#split"  # its own key already names this asset
            plan.target_of.setdefault(split_key, asset_of_key.get(split_key))
            if plan.target_of[split_key] is None:
                plan.create[split_key] = sid
            plan.moves.append((sid, where, split_key))
            leaving.add(sid)
    # Assets emptied of linked ids: the rest of their ids follow when they all went to one
    # target (which has no id of those sources), and the emptied asset becomes its alias.
    went: dict[int, set[str]] = defaultdict(set)
    for sid, from_asset, key in plan.moves:
        if sid in wanted:
            went[from_asset].add(key)
    for aid, keys in sorted(went.items()):
        staying = [s for s in holders[aid] if s not in leaving]
        if any(s in wanted for s in staying) or aid in owned or len(keys) != 1:
            continue
        (key,) = keys
        dest = target(key)
        dest_sources = {s[0] for s in holders.get(dest, ())} if dest is not None else set()
        dest_sources |= {s[0] for s, _, k in plan.moves if k == key}
        if any(s[0] in dest_sources for s in staying):
            continue
        for s in staying:
            plan.moves.append((s, aid, key))
            leaving.add(s)
        plan.merges[aid] = key
    # Methods and evidence: a pair's members carry the link's; a lone coin is "new".
    for sid, want in wanted.items():
        found = mapped.get(sid)
        if found is None:
            continue
        m = found
        if want.method in PAIR_METHODS:
            desired = (want.method, want.confidence, want.evidence)
        elif m.method in PAIR_METHODS:
            desired = ("new", None, None)
        else:
            continue
        if (m.method, m.confidence, m.evidence) != desired:
            plan.relabel[sid] = desired
    return plan
