"""Pure normalizers: one raw upstream record -> ``MarketRecord`` or ``Rejection`` (no I/O).

- :func:`normalize_market` - CoinGecko ``/coins/markets`` element (``source="coingecko"``)
- :func:`normalize_ticker` - CoinPaprika ``/tickers`` element (``source="coinpaprika"``)
- :func:`normalize_csv_row` - a ``csv.DictReader`` row (``source="csv"`` by default)
- :func:`loads_exact` - parse a JSON body with exact Decimals (required for the first two)
- :func:`identity_key` / :func:`resolve_key` - cross-source identity

Validation rules shared by all sources
--------------------------------------
- Required: ``id`` (non-blank string, kept verbatim), ``symbol`` and ``name`` (non-blank
  strings, trimmed, case kept), ``last_updated`` (ISO-8601 with timezone, years 2009-2099),
  price (a finite number, ``0 <= price <= 1e9``). A price of exactly 0 is accepted: dead
  tokens really trade at 0 and that is an observation, not corrupt data. An empty name is
  rejected rather than replaced by the symbol, because the identity key would then fall back
  to the symbol alone and merge unrelated coins that share it.
- Optional numbers: ``null`` -> ``None``; anything present must be a finite number or the row
  is rejected (a bad value is never silently nulled). Market cap and volume in
  ``[0, 1e16]``, supplies in ``[0, 1e30]``, ``change_24h_pct`` any sign up to ``1e18``
  (a representability guard only). Nonzero magnitudes below ``1e-30`` are rejected.
- ``market_cap_rank``: ``null`` or a positive integer up to 10,000,000 (``5.0`` accepted).
- Inconsistent supplies (circulating > total, total > max) are real and accepted.
- Strings longer than the store's columns (id/name 300, symbol 64) or containing control
  characters or lone surrogates are rejected.

Rejection reasons (``<f>`` is the canonical field name: ``price_usd``, ``market_cap_usd``,
``volume_24h_usd``, ``change_24h_pct``, ``market_cap_rank``, ``circulating_supply``,
``total_supply``, ``max_supply``; text fields use ``id``, ``symbol``, ``name``,
``last_updated``, which every source spells the same way):

- ``expected an object, got <type>`` / ``expected a row mapping, got <type>``
- ``missing required field: <f>`` (absent or null; blank CSV cell; also ``quotes.USD``)
- ``<f>: expected a string, got <type>`` / ``<f>: empty`` /
  ``<f>: longer than <n> characters`` / ``<f>: contains control characters``
- ``<f>: expected a number, got <type>`` / ``<f>: inexact float (parse JSON with loads_exact)``
- ``<f>: not finite`` (NaN, Infinity) / ``<f>: too many digits`` /
  ``<f>: not a decimal number`` (CSV text)
- ``<f>: negative`` / ``<f>: exceeds bound 1e9`` (1e16, 1e30, 1e18) /
  ``<f>: nonzero below 1e-30``
- ``market_cap_rank: not an integer`` / ``not positive`` / ``exceeds bound 10000000``
- ``last_updated: expected a timestamp string, got <type>`` /
  ``last_updated: not an ISO-8601 timestamp with timezone`` /
  ``last_updated: invalid date or time`` / ``last_updated: out of range``
- ``quotes: expected an object, got <type>`` / ``quotes.USD: expected an object, got <type>``
- ``row has more cells than the header`` / ``<f>: expected text, got <type>`` (CSV)
"""

from kasparro.identity.keys import OVERRIDES, identity_key, resolve_key
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.normalize.common import InvalidValue, loads_exact, parse_timestamp, to_decimal
from kasparro.normalize.csv_rows import normalize_csv_row

__all__ = [
    "OVERRIDES",
    "InvalidValue",
    "identity_key",
    "loads_exact",
    "normalize_csv_row",
    "normalize_market",
    "normalize_ticker",
    "parse_timestamp",
    "resolve_key",
    "to_decimal",
]
