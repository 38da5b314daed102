"""Cross-source identity: which listings of any number of sources are one coin.

The pure core (no I/O): :mod:`.chains` (chain ids per source), :mod:`.names` (what names,
symbols and ids say), :mod:`.detail` (per-coin homepage and explorer links),
:mod:`.evidence` (the weights), :mod:`.linking` (the decision) and :mod:`.model` (inputs
and outputs).
"""

from kasparro.identity.detail import Detail
from kasparro.identity.linking import default_overrides, link_coins
from kasparro.identity.model import (
    Anomaly,
    Candidate,
    CoinRef,
    Decision,
    Link,
    LinkPlan,
    ReviewItem,
)

__all__ = [
    "Anomaly",
    "Candidate",
    "CoinRef",
    "Decision",
    "Detail",
    "Link",
    "LinkPlan",
    "ReviewItem",
    "default_overrides",
    "link_coins",
]
