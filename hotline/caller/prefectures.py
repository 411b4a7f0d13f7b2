"""Yunnan's 16 prefecture-level divisions (州市), as in the domain brief and migration 0001."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prefecture:
    code: str
    name: str
    short: str
    area_code: str


PREFECTURES: tuple[Prefecture, ...] = (
    Prefecture("530100", "昆明市", "昆明", "0871"),
    Prefecture("530300", "曲靖市", "曲靖", "0874"),
    Prefecture("530400", "玉溪市", "玉溪", "0877"),
    Prefecture("530500", "保山市", "保山", "0875"),
    Prefecture("530600", "昭通市", "昭通", "0870"),
    Prefecture("530700", "丽江市", "丽江", "0888"),
    Prefecture("530800", "普洱市", "普洱", "0879"),
    Prefecture("530900", "临沧市", "临沧", "0883"),
    Prefecture("532300", "楚雄彝族自治州", "楚雄", "0878"),
    Prefecture("532500", "红河哈尼族彝族自治州", "红河", "0873"),
    Prefecture("532600", "文山壮族苗族自治州", "文山", "0876"),
    Prefecture("532800", "西双版纳傣族自治州", "西双版纳", "0691"),
    Prefecture("532900", "大理白族自治州", "大理", "0872"),
    Prefecture("533100", "德宏傣族景颇族自治州", "德宏", "0692"),
    Prefecture("533300", "怒江傈僳族自治州", "怒江", "0886"),
    Prefecture("533400", "迪庆藏族自治州", "迪庆", "0887"),
)

BY_AREA_CODE = {p.area_code: p for p in PREFECTURES}
BY_CODE = {p.code: p for p in PREFECTURES}


def from_place_name(place: str) -> Prefecture | None:
    """Find the prefecture named in a geocoder description such as '云南省昆明市' or '云南西双版纳'."""
    if not place.startswith("云南"):
        return None
    rest = place.removeprefix("云南省").removeprefix("云南")
    for p in PREFECTURES:
        if rest.startswith(p.short):
            return p
    return None
