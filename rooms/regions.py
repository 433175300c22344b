"""Sweden's 21 regions (län), with their official letter and number codes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """One Swedish region: letter code (``"AB"``), county number (``"01"``) and names."""

    code: str
    number: str
    name: str
    county: str


REGIONS: tuple[Region, ...] = (
    Region("AB", "01", "Stockholm", "Stockholms län"),
    Region("C", "03", "Uppsala", "Uppsala län"),
    Region("D", "04", "Södermanland", "Södermanlands län"),
    Region("E", "05", "Östergötland", "Östergötlands län"),
    Region("F", "06", "Jönköping", "Jönköpings län"),
    Region("G", "07", "Kronoberg", "Kronobergs län"),
    Region("H", "08", "Kalmar", "Kalmar län"),
    Region("I", "09", "Gotland", "Gotlands län"),
    Region("K", "10", "Blekinge", "Blekinge län"),
    Region("M", "12", "Skåne", "Skåne län"),
    Region("N", "13", "Halland", "Hallands län"),
    Region("O", "14", "Västra Götaland", "Västra Götalands län"),
    Region("S", "17", "Värmland", "Värmlands län"),
    Region("T", "18", "Örebro", "Örebro län"),
    Region("U", "19", "Västmanland", "Västmanlands län"),
    Region("W", "20", "Dalarna", "Dalarnas län"),
    Region("X", "21", "Gävleborg", "Gävleborgs län"),
    Region("Y", "22", "Västernorrland", "Västernorrlands län"),
    Region("Z", "23", "Jämtland Härjedalen", "Jämtlands län"),
    Region("AC", "24", "Västerbotten", "Västerbottens län"),
    Region("BD", "25", "Norrbotten", "Norrbottens län"),
)
"""All 21 regions in the official county-number order."""

REGIONS_BY_CODE: dict[str, Region] = {region.code: region for region in REGIONS}


def normalise_code(code: str) -> str:
    """Return a region code in its canonical form (``" ab "`` becomes ``"AB"``)."""
    return code.strip().upper()


def region_by_code(code: str) -> Region | None:
    """Look a region up by letter code, ignoring case and surrounding spaces."""
    return REGIONS_BY_CODE.get(normalise_code(code))
