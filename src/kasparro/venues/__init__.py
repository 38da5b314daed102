"""Exchange venues, the pure part: the records (``models``), the ticker and market
normalizers (``normalize``), markets linked to canonical assets (``linking``) and quote
currencies converted to USD with measured rates (``conversion``). No I/O here: the sources
(``kasparro.sources.venues``) fetch, ``load.venues`` stores, ``query.venues`` reads.
"""
