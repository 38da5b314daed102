"""Exact decimal numbers and the two upstreams' JSON number spellings.

Every number the emulator emits is held as a ``Num``: ``(mantissa, exponent)`` meaning
``mantissa * 10**exponent`` exactly. Integer arithmetic keeps values exact (no float ever
touches them) and is much faster than ``Decimal`` for the per-tick perturbations.

The exponent also carries the JSON *kind*, because CoinGecko prints a float-typed value
that happens to be integral as ``18966243.0`` but an integer-typed one as ``38938``:

* ``exponent >= 0``  -> JSON integer (``38938``)
* ``exponent < 0``   -> JSON float (``18966243.0``, ``3.447e-09``)

A float-kind value with no fractional digits is stored with exponent ``-1`` (``4.2e+17`` is
``(4200000000000000000, -1)``); ``canonical_float`` does that normalisation.
"""

from __future__ import annotations

from decimal import Decimal

Num = tuple[int, int]

ZERO_FLOAT: Num = (0, -1)


def parse_num(token: str) -> Num:
    """Exact ``Num`` from JSON number text; ``1.0e+15`` stays float-kind, ``38938`` int-kind."""
    text = token
    exponent = 0
    is_float = False
    cut = max(text.find("e"), text.find("E"))
    if cut >= 0:
        exponent = int(text[cut + 1 :])
        text = text[:cut]
        is_float = True
    dot = text.find(".")
    if dot >= 0:
        fraction = text[dot + 1 :]
        text = text[:dot] + fraction
        exponent -= len(fraction)
        is_float = True
    mantissa = int(text)
    if is_float:
        return canonical_float((mantissa, exponent))
    if exponent > 0:
        return (mantissa * 10**exponent, 0)
    return (mantissa, exponent)


def canonical_float(n: Num) -> Num:
    """The same value, float-kind (negative exponent)."""
    mantissa, exponent = n
    if exponent < 0:
        return n
    return (mantissa * 10 ** (exponent + 1), -1)


def as_int(n: Num) -> Num:
    """The value rounded half away from zero to an integer, int-kind."""
    mantissa, exponent = n
    if exponent >= 0:
        return (mantissa * 10**exponent, 0)
    quotient, remainder = divmod(abs(mantissa), 10**-exponent)
    if 2 * remainder >= 10**-exponent:
        quotient += 1
    return (quotient if mantissa >= 0 else -quotient, 0)


def to_decimal(n: Num) -> Decimal:
    """The exact ``Decimal`` value (what a ``parse_float=Decimal`` consumer must read)."""
    return Decimal(f"{n[0]}E{n[1]}")


def as_float(value: Num | None) -> float:
    """A Num as the float an upstream's JSON would carry (0.0 for None)."""
    if value is None:
        return 0.0
    mantissa, exponent = value
    return mantissa * 10.0**exponent if exponent < 0 else float(mantissa * 10**exponent)


def scale(n: Num, numerator: int, denominator: int) -> Num:
    """``n * numerator / denominator`` kept at ``n``'s exponent, rounded half away from zero."""
    mantissa, exponent = n
    quotient, remainder = divmod(abs(mantissa) * numerator, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return (quotient if mantissa >= 0 else -quotient, exponent)


def add(a: Num, b: Num) -> Num:
    """Exact sum; the result is float-kind if either operand is."""
    (ma, ea), (mb, eb) = a, b
    if ea == eb:
        return (ma + mb, ea)
    if ea < eb:
        return (ma + mb * 10 ** (eb - ea), ea)
    return (ma * 10 ** (ea - eb) + mb, eb)


def compare(a: Num, b: Num) -> int:
    """-1, 0 or 1 like ``cmp(a, b)``, exactly."""
    (ma, ea), (mb, eb) = a, b
    if ea > eb:
        ma *= 10 ** (ea - eb)
    elif eb > ea:
        mb *= 10 ** (eb - ea)
    return (ma > mb) - (ma < mb)


def round_sig(n: Num, digits: int) -> Num:
    """Round to at most ``digits`` significant digits, keeping the JSON kind."""
    mantissa, exponent = n
    text = str(abs(mantissa))
    drop = len(text) - digits
    if drop <= 0:
        return n
    quotient, remainder = divmod(abs(mantissa), 10**drop)
    if 2 * remainder >= 10**drop:
        quotient += 1
    result = (quotient if mantissa >= 0 else -quotient, exponent + drop)
    return canonical_float(result) if exponent < 0 else result


def quantize(n: Num, exponent: int) -> Num:
    """Round half away from zero to ``exponent`` (e.g. -2 = two decimals)."""
    mantissa, current = n
    if current >= exponent:
        return (mantissa * 10 ** (current - exponent), exponent)
    quotient, remainder = divmod(abs(mantissa), 10 ** (exponent - current))
    if 2 * remainder >= 10 ** (exponent - current):
        quotient += 1
    return (quotient if mantissa >= 0 else -quotient, exponent)


def percent_change(new: Num, old: Num, decimals: int) -> Num | None:
    """``(new - old) / old * 100`` rounded to ``decimals`` places, or None when ``old`` is 0."""
    (mn, en), (mo, eo) = new, old
    if en > eo:
        mn *= 10 ** (en - eo)
    elif eo > en:
        mo *= 10 ** (eo - en)
    if mo == 0:
        return None
    numerator = (mn - mo) * 100 * 10**decimals
    quotient, remainder = divmod(abs(numerator), abs(mo))
    if 2 * remainder >= abs(mo):
        quotient += 1
    negative = (numerator < 0) != (mo < 0)
    return (-quotient if negative else quotient, -decimals)


def multiply(a: Num, b: Num) -> Num:
    return (a[0] * b[0], a[1] + b[1])


def divide(a: Num, b: Num, digits: int) -> Num:
    """``a / b`` to about ``digits`` significant digits, float-kind."""
    (ma, ea), (mb, eb) = a, b
    if mb == 0:
        raise ZeroDivisionError("divide by a zero Num")
    if ma == 0:
        return ZERO_FLOAT
    shift = max(0, digits + len(str(abs(mb))) - len(str(abs(ma))) + 1)
    quotient = (abs(ma) * 10**shift) // abs(mb)
    sign = -1 if (ma < 0) != (mb < 0) else 1
    return canonical_float(round_sig((sign * quotient, ea - eb - shift), digits))


def format_coingecko(n: Num) -> str:
    """CoinGecko's spelling (Ruby float style), reproduced from the recorded 2022 page.

    Integers print bare. Floats print their shortest digits, fixed between 1e-4 and 1e15 with
    a mandatory fraction (``21000000.0``), otherwise scientific with a mandatory fraction and
    a two-digit signed exponent (``1.0e+15``, ``3.447e-09``, ``4.2e+17``).
    """
    mantissa, exponent = n
    if exponent >= 0:
        return str(mantissa * 10**exponent) if exponent else str(mantissa)
    if mantissa == 0:
        return "0.0"
    sign = "-" if mantissa < 0 else ""
    text = str(-mantissa if sign else mantissa)
    digits = text.rstrip("0")
    point = len(text) + exponent  # where the decimal point falls relative to the digits
    if -3 <= point <= 15:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    power = point - 1
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def format_coinpaprika(n: Num) -> str:
    """CoinPaprika's spelling (Go/JavaScript float64 style).

    The recorded ticker prints integral floats bare (``19016044``) and full shortest digits
    otherwise; scientific only below 1e-6 or from 1e21 up, with an unpadded exponent
    (``3.447e-9``, ``1e+21``).
    """
    mantissa, exponent = n
    if mantissa == 0:
        return "0"
    sign = "-" if mantissa < 0 else ""
    text = str(-mantissa if sign else mantissa)
    digits = text.rstrip("0")
    point = len(text) + exponent
    if -5 <= point <= 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    power = point - 1
    fraction = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{fraction}e{'+' if power >= 0 else '-'}{abs(power)}"
