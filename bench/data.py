"""Realistic reports for the benchmarks: Vietnamese names as common as they are in life, birth
dates spread over decades (and the ``01/01/YYYY`` that records of an unknown birthday carry),
every one of the 34 provinces, and the same person reported again at a realistic rate.

The look-alike scan at intake compares the names of cases with the same birth date and
province; how often names and birth dates repeat is what makes its cost realistic."""

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from services.intake.reports.catalogues import wards

# Family names by their share of the population (about; the long tail left out).
FAMILY = {"Nguyễn": 38, "Trần": 11, "Lê": 9.5, "Phạm": 7, "Hoàng": 5.1, "Phan": 4.5, "Vũ": 3.9,
          "Đặng": 2.1, "Bùi": 2, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3, "Dương": 1, "Lý": 0.5,
          "Lò": 0.4, "Sùng": 0.3, "Giàng": 0.3, "Vàng": 0.3, "Hà": 0.3}  # fmt: skip
MIDDLE = {"female": ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Mỹ", "Kim", "Hồng"),
          "male": ("Văn", "Văn", "Văn", "Đức", "Minh", "Hữu", "Quang", "Công", "Xuân")}  # fmt: skip
GIVEN = {"female": ("Lan", "Hoa", "Hương", "Mai", "Linh", "Trang", "Thảo", "Huyền", "Nga",
                    "Dung", "Hà", "Phương", "Yến", "Ngân", "Nhung", "Vân", "Mỷ", "Dợ", "Súa"),
         "male": ("Nam", "Hùng", "Dũng", "Tuấn", "Minh", "Long", "Sơn", "Hải", "Tùng", "Quân",
                  "Thắng", "Phong", "Páo", "Chứ", "Sính", "Dính")}  # fmt: skip
UNKNOWN_BIRTHDAY = 0.2  # recorded as 1 January of the year the person gave
REPEAT = 0.03  # the same person reported again, by another channel or another agency
CHANNELS = ("hotline_111", "commune", "police", "border_guard")
DESTINATIONS = ("CN", "CN", "CN", "LA", "KH", "MY", "TH", "KR", "JP")


class Reports:
    """An endless, seeded supply of report bodies; ``received`` dates fall in ``year``."""

    def __init__(self, seed: int, run: str, year: int = 2025) -> None:
        self.rng = random.Random(seed)
        self.run, self.year = run, year
        self.count = 0
        self.people: list[tuple[dict[str, Any], dict[str, str]]] = []  # to report again
        by_province: dict[str, list[str]] = {}
        for ward, province in wards().items():
            by_province.setdefault(province, []).append(ward)
        self.provinces = {p: sorted(w) for p, w in sorted(by_province.items())}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        rng = self.rng
        self.count += 1
        if self.people and rng.random() < REPEAT:
            person, area = rng.choice(self.people)
        else:
            person, area = self._person(), self._area()
            self.people.append((person, area))
        received = date(self.year, 1, 1) + timedelta(days=rng.randrange(365))
        abroad = rng.random() < 0.75
        return {
            "source_ref": f"BENCH-{self.run}-{self.count:08d}",
            "channel": rng.choice(CHANNELS),
            "received_at": received.isoformat(),
            "area": area,
            "reception_form": rng.choice(("self_returned", "rescued", "bilateral_handover")),
            "person": person,
            "trafficking": {"scope": "abroad" if abroad else "domestic",
                            "destination_country": rng.choice(DESTINATIONS) if abroad else None,
                            "purposes": [rng.choice(("forced_labour", "sexual_exploitation",
                                                     "forced_marriage"))]},
            "consent": {"services": True, "information_sharing": rng.random() < 0.8,
                        "statistics": rng.random() < 0.9, "recorded_by": "Cán bộ tiếp nhận",
                        "recorded_at": received.isoformat()},
        }  # fmt: skip

    def _person(self) -> dict[str, Any]:
        rng = self.rng
        sex = "female" if rng.random() < 0.8 else "male"
        family = rng.choices(list(FAMILY), weights=list(FAMILY.values()))[0]
        name = f"{family} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])}"
        born_year = rng.randrange(1965, 2012)
        if rng.random() < UNKNOWN_BIRTHDAY:
            born = date(born_year, 1, 1)
        else:
            born = date(born_year, 1, 1) + timedelta(days=rng.randrange(365))
        person: dict[str, Any] = {"full_name": name, "sex": sex, "birth_date": born.isoformat(),
                                  "ethnicity": rng.choice(("01",) * 8 + ("02", "03", "04", "13")),
                                  "nationality": "VN"}  # fmt: skip
        if rng.random() < 0.6:
            person["id_number"] = f"{rng.randrange(10**11, 10**12)}"
        return person

    def _area(self) -> dict[str, str]:
        province = self.rng.choice(list(self.provinces))
        return {"province": province, "ward": self.rng.choice(self.provinces[province])}
