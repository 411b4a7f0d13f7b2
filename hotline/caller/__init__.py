"""Caller numbers: parsing and attribution (phone, regions, prefectures), keys and masking (privacy), and
the vulnerable-household lists (households). Pure apart from privacy's secret file and regions' cache."""
