"""Synthetic scenarios (DESIGN §5) of any size: `generate_scenario(sellers=2, skus=1000, …)`.

The shapes follow what real sellers see (marketplace-api.md §6): real WB warehouse names and
regions, Ozon UPPER_SNAKE FBO warehouses with clusters, a handful of warehouses holding most of
the stock, many small and a few large quantities, ~5 % cancelled orders, ids of the real widths.

Everything is drawn from `random.Random` instances seeded from `seed`, so a seed (and clock) gives
the same scenario byte for byte. The hot loops do plain `rng.choices(..., cum_weights=...)` over
precomputed weights: 50 000 SKUs × 60 warehouses takes seconds, not minutes.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

from sandbox.wb.tokens import make_token

MSK = timezone(timedelta(hours=3))

# The sandbox checks `exp` against the real clock, and scenario files outlive the day they were
# generated on; a fixed far-future expiry keeps a stored scenario's tokens valid (2100-01-01 UTC).
TOKEN_EXPIRES_AT = 4_102_444_800

# --- WB warehouses ----------------------------------------------------------------------------

# (id, name, federal district), roughly biggest first: list order is the popularity rank used to
# skew stock. Names are real WB warehouses; ids are small like WB's (507 = Коледино), best-effort.
WB_WAREHOUSES: tuple[tuple[int, str, str], ...] = (
    (507, "Коледино", "Центральный"),
    (117501, "Подольск", "Центральный"),
    (120762, "Электросталь", "Центральный"),
    (218623, "Подольск 3", "Центральный"),
    (206348, "Тула", "Центральный"),
    (117986, "Казань", "Приволжский"),
    (130744, "Краснодар (Тихорецкая)", "Южный"),
    (210515, "Чехов 1", "Центральный"),
    (300571, "Екатеринбург - Перспективный 12", "Уральский"),
    (686, "Новосибирск", "Сибирский"),
    (208277, "Невинномысск", "Северо-Кавказский"),
    (301760, "Рязань (Тюшевское)", "Центральный"),
    (301809, "Котовск", "Центральный"),
    (301983, "Самара (Новосемейкино)", "Приволжский"),
    (206236, "Белые Столбы", "Центральный"),
    (2737, "Санкт-Петербург Уткина Заводь", "Северо-Западный"),
    (208941, "Домодедово", "Центральный"),
    (301805, "Владимир", "Центральный"),
    (120602, "Электросталь СГТ", "Центральный"),
    (1733, "Екатеринбург - Испытателей 14г", "Уральский"),
    (1193, "Хабаровск", "Дальневосточный"),
    (158328, "Минск", "Беларусь"),
    (204939, "Астана", "Казахстан"),
    (300219, "Вёшки", "Центральный"),
    (6144, "Волгоград", "Южный"),
    (159402, "Санкт-Петербург Шушары", "Северо-Западный"),
    (301920, "Воронеж", "Центральный"),
    (218210, "Ростов-на-Дону", "Южный"),
    (300987, "Уфа", "Приволжский"),
    (301229, "Подольск 4", "Центральный"),
    (218644, "Нижний Новгород", "Приволжский"),
    (206844, "Красноярск", "Сибирский"),
    (117289, "Внуково", "Центральный"),
    (206319, "Белая дача", "Центральный"),
    (312259, "Сарапул", "Приволжский"),
    (300168, "Пенза", "Приволжский"),
    (301921, "Челябинск", "Уральский"),
    (302445, "Пятигорск, Этока", "Северо-Кавказский"),
    (211622, "Иркутск", "Сибирский"),
    (302737, "Владивосток", "Дальневосточный"),
    (300862, "Калининград", "Северо-Западный"),
    (218402, "Краснодар СГТ", "Южный"),
    (219192, "Радумля 1", "Центральный"),
    (218987, "Алматы", "Казахстан"),
    (316646, "Ереван", "Армения"),
    (301470, "Бишкек", "Кыргызстан"),
    (320411, "Ташкент", "Узбекистан"),
)
# A seller's own (FBS) warehouses; 871893 "Fulllog FBS" is the predecessor's real one.
WB_SELLER_WAREHOUSES: tuple[tuple[int, str, str], ...] = (
    (871893, "Fulllog FBS", "Центральный"),
    (1021907, "Склад продавца Обухово", "Центральный"),
    (1104452, "Мой склад Казань", "Приволжский"),
)

# --- Ozon warehouses --------------------------------------------------------------------------

OZON_CLUSTERS: dict[str, int] = {
    "Москва, МО и Дальние регионы": 4002,
    "Санкт-Петербург и СЗО": 4007,
    "Казань": 4019,
    "Самара": 4020,
    "Екатеринбург": 4021,
    "Новосибирск": 4023,
    "Ростов": 4025,
    "Краснодар": 4026,
    "Тверь": 4030,
    "Воронеж": 4031,
    "Уфа": 4033,
    "Дальний Восток": 4038,
    "Красноярск": 4040,
    "Омск": 4042,
    "Пермь": 4044,
    "Калининград": 4046,
    "Кавказ": 4048,
    "Тюмень": 4050,
    "Волгоград": 4052,
    "Оренбург": 4054,
}
# (name, cluster), biggest first.
OZON_FBO_WAREHOUSES: tuple[tuple[str, str], ...] = (
    ("ХОРУГВИНО_РФЦ", "Москва, МО и Дальние регионы"),
    ("ПУШКИНО_1_РФЦ", "Москва, МО и Дальние регионы"),
    ("НОГИНСК_РФЦ", "Москва, МО и Дальние регионы"),
    ("ТВЕРЬ_РФЦ", "Тверь"),
    ("САНКТ_ПЕТЕРБУРГ_РФЦ", "Санкт-Петербург и СЗО"),
    ("КАЗАНЬ_РФЦ_НОВЫЙ", "Казань"),
    ("ЕКАТЕРИНБУРГ_РФЦ_НОВЫЙ", "Екатеринбург"),
    ("НОВОСИБИРСК_РФЦ_НОВЫЙ", "Новосибирск"),
    ("РОСТОВ_НА_ДОНУ_РФЦ", "Ростов"),
    ("АДЫГЕЙСК_РФЦ", "Краснодар"),
    ("ПУШКИНО_2_РФЦ", "Москва, МО и Дальние регионы"),
    ("ГРИВНО_РФЦ", "Москва, МО и Дальние регионы"),
    ("ПЕТРОВСКОЕ_РФЦ", "Москва, МО и Дальние регионы"),
    ("СОФЬИНО_РФЦ", "Москва, МО и Дальние регионы"),
    ("ЖУКОВСКИЙ_РФЦ", "Москва, МО и Дальние регионы"),
    ("СПБ_БУГРЫ_РФЦ", "Санкт-Петербург и СЗО"),
    ("СПБ_ШУШАРЫ_РФЦ", "Санкт-Петербург и СЗО"),
    ("САМАРА_РФЦ", "Самара"),
    ("ВОРОНЕЖ_2_РФЦ", "Воронеж"),
    ("УФА_РФЦ", "Уфа"),
    ("НЕВИННОМЫССК_РФЦ", "Кавказ"),
    ("ХАБАРОВСК_2_РФЦ", "Дальний Восток"),
    ("КРАСНОЯРСК_МРФЦ", "Красноярск"),
    ("ОМСК_РФЦ", "Омск"),
    ("ПЕРМЬ_РФЦ", "Пермь"),
    ("КАЛИНИНГРАД_МРФЦ", "Калининград"),
    ("ТЮМЕНЬ_РФЦ", "Тюмень"),
    ("ВОЛГОГРАД_МРФЦ", "Волгоград"),
    ("ОРЕНБУРГ_РФЦ", "Оренбург"),
)
OZON_SELLER_WAREHOUSES: tuple[str, ...] = ("Мой склад Подольск", "Склад Казань FBS")

# --- catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Category:
    subject: str  # WB "Предмет"
    ozon_category: str  # the description category in Ozon's tree
    ozon_type: str  # the Ozon product type inside it: the Ozon sheet's "Предмет"
    noun: str  # first words of the title
    details: tuple[str, ...]
    sizes: tuple[str, ...]  # a product takes a run of consecutive sizes from here; ("0",) = one size
    price: tuple[int, int]  # rubles
    code: str  # vendor-code part


# subject | Ozon category | title noun | details | tech sizes | price range | code
_CATALOGUE = """
Футболки|Одежда|Футболка|оверсайз из хлопка;базовая с принтом;спортивная|XS;S;M;L;XL;XXL;3XL|490-1990|TSH
Платья|Одежда|Платье|летнее миди;трикотажное;вечернее с разрезом|40;42;44;46;48;50;52;54|1490-5990|DRS
Джинсы|Одежда|Джинсы|прямые с высокой посадкой;широкие;скинни|40;42;44;46;48;50;52;54;56|1990-4990|JNS
Худи|Одежда|Худи|утепленное с капюшоном;на молнии;оверсайз|XS;S;M;L;XL;XXL|1590-4490|HOD
Кроссовки|Обувь|Кроссовки|для бега;на платформе;кожаные|36;37;38;39;40;41;42;43;44;45|2490-8990|SNK
Комбинезоны детские|Детские товары|Комбинезон детский|зимний;флисовый|74;80;86;92;98;104;110;116|1990-6990|KDS
Комплексные пищевые добавки|Аптека|Коллаген морской|порошок 50 г;с витамином C|0|490-2990|SUP
Кремы|Красота и здоровье|Крем для лица|увлажняющий 50 мл;ночной с ретинолом|0|390-2490|CRM
Шампуни|Красота и здоровье|Шампунь|для окрашенных волос 400 мл;бессульфатный|0|290-1290|SHP
Постельное белье|Дом и сад|Постельное белье|сатин;поплин|1,5 спальный;2 спальный;Евро;Семейный|1990-6990|BED
Полотенца|Дом и сад|Полотенце банное|махровое;вафельное|30x50;50x90;70x140;100x150|290-1490|TWL
Кружки|Дом и сад|Кружка керамическая|300 мл;с крышкой 400 мл|0|290-990|MUG
Сковороды|Дом и сад|Сковорода|антипригарная;чугунная;гриль|20;22;24;26;28|990-4990|PAN
Носки|Одежда|Носки|набор 5 пар;хлопковые высокие|23-25;25-27;27-29;29-31|290-990|SCK
Чехлы для телефонов|Электроника|Чехол для телефона|силиконовый;книжка|0|190-990|CSE
Рюкзаки|Аксессуары|Рюкзак|городской;школьный ортопедический|0|990-4990|BPK
"""


# The Ozon product type of each WB subject (a type in Ozon's tree, under the Ozon category above).
OZON_TYPES = {
    "Футболки": "Футболка",
    "Платья": "Платье",
    "Джинсы": "Джинсы",
    "Худи": "Худи",
    "Кроссовки": "Кроссовки",
    "Комбинезоны детские": "Комбинезон",
    "Комплексные пищевые добавки": "Биологически активная добавка",
    "Кремы": "Крем для лица",
    "Шампуни": "Шампунь",
    "Постельное белье": "Комплект постельного белья",
    "Полотенца": "Полотенце",
    "Кружки": "Кружка",
    "Сковороды": "Сковорода",
    "Носки": "Носки",
    "Чехлы для телефонов": "Чехол для смартфона",
    "Рюкзаки": "Рюкзак",
}


def _parse_catalogue(text: str) -> tuple[_Category, ...]:
    categories = []
    for line in text.strip().splitlines():
        subject, ozon, noun, details, sizes, price, code = line.split("|")
        low, high = price.split("-")
        categories.append(
            _Category(
                subject,
                ozon,
                OZON_TYPES[subject],
                noun,
                tuple(details.split(";")),
                tuple(sizes.split(";")),
                (int(low), int(high)),
                code,
            )
        )
    return tuple(categories)


CATEGORIES = _parse_catalogue(_CATALOGUE)
COLORS = ("черный", "белый", "бежевый", "серый", "синий", "зеленый", "розовый", "молочный")

# (seller-name slug, brand, vendor-code prefix)
BRANDS: tuple[tuple[str, str, str], ...] = (
    ("severnyi-len", "Северный Лён", "SL"),
    ("urban-fox", "URBAN FOX", "UF"),
    ("uyutnyi-dom", "Уютный Дом", "UD"),
    ("mira-line", "MIRALINE", "ML"),
    ("eko-laif", "ЭкоЛайф", "EL"),
    ("nordic-home", "Nordic Home", "NH"),
    ("kids-star", "KIDSTAR", "KS"),
    ("pro-vita", "ProVita", "PV"),
    ("beauty-lab", "BeautyLab", "BL"),
    ("kukhnia-master", "Кухня Мастер", "KM"),
)

# --- distributions ----------------------------------------------------------------------------

# How many WB/FBO warehouses one size sits in: mostly one to three.
_SPREAD_COUNTS = (1, 2, 3, 4, 5, 6, 8)
_SPREAD_CUM = tuple(accumulate((30, 25, 18, 11, 8, 5, 3)))
# Share of orders by hour of day (MSK): quiet nights, busy evenings; used for rejection sampling.
_HOUR_ACCEPT = tuple(
    w / 10 for w in (3, 2, 1, 1, 1, 2, 3, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 9, 9, 10, 10, 10, 8, 5)
)
ORDER_RATE = 0.05  # orders per unit of stock per 30 days (long-tail catalogues sell slowly)
CANCEL_SHARE = 0.05
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def ean13(body12: str) -> str:
    """A 13-digit barcode: 12 digits plus the EAN-13 check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def wb_srid(rng: random.Random, serial: int) -> str:
    """An order srid shaped like WB's `11.rf9ef11fce1684117b0nhj96222982382.3.0`.

    `serial` (unique per seller) sits at a fixed width inside, so ids never collide.
    """
    serial36 = ""
    for _ in range(6):
        serial, digit = divmod(serial, 36)
        serial36 = _B36[digit] + serial36
    body = f"r{rng.getrandbits(64):016x}{serial36}{rng.getrandbits(36):011d}"
    return f"{rng.choice(('11', '12', '13'))}.{body}.{rng.randint(0, 9)}.0"


def _zipf_cum(rng: random.Random, n: int, exponent: float = 1.1) -> list[float]:
    """Cumulative Zipf-like weights by rank, jittered per seller so sellers differ a little."""
    return list(accumulate(rng.uniform(0.7, 1.3) / (rank + 1) ** exponent for rank in range(n)))


def _pick_distinct(rng: random.Random, ids: list[int], cum: list[float], k: int) -> list[int]:
    """Up to k distinct ids drawn by weight (duplicates are dropped, so popular ones dominate)."""
    return list(dict.fromkeys(rng.choices(ids, cum_weights=cum, k=k + 2)))[:k]


def _spread(rng: random.Random) -> int:
    return rng.choices(_SPREAD_COUNTS, cum_weights=_SPREAD_CUM)[0]


def _small_quantity(rng: random.Random) -> int:
    """Lognormal: median ~5, mean ~11, a long tail of hundreds (capped)."""
    return min(int(rng.lognormvariate(1.6, 1.3)), 20_000)


def _fbs_quantity(rng: random.Random) -> int:
    """Own-warehouse stock is one pile per item, so larger: median ~20, tail of thousands."""
    return min(int(rng.lognormvariate(3.0, 1.2)), 20_000)


def _fbs_reserved(sku: int) -> int:
    """Units of an FBS stock held by orders not yet shipped: about a third of stocks hold 1–3.

    Drawn from the SKU alone, so it shifts none of the seller's other random draws.
    """
    own = random.Random(f"fbs-reserved:{sku}")
    return own.randint(1, 3) if own.random() < 0.35 else 0


def _order_warehouse(
    rng: random.Random, held: list[tuple[int, int]], held_cum: list[int], ids: list[int], cum: list[float]
) -> int:
    """Mostly where the item is in stock (by quantity); otherwise a warehouse it has sold out of."""
    if held and rng.random() < 0.9:
        return held[bisect_left(held_cum, rng.random() * held_cum[-1])][0]
    return rng.choices(ids, cum_weights=cum)[0]


def _order_count(rng: random.Random, stock: int, days: int) -> int:
    """Orders for one item over `days`: proportional to its stock, plus a trickle for sold-out items.

    floor(x + U) has mean x; scaling x by an exponential gives real spread between items.
    """
    expected = (stock * ORDER_RATE + 0.3) * days / 30
    return int(expected * rng.expovariate(1.0) + rng.random())


class _Clock:
    """Order timestamps in the `days` before `clock`, weighted towards the daytime (MSK).

    Rejection sampling draws a clock-dependent number of values, so it has its own generator:
    the rest of a seller's data stays the same whatever the clock.
    """

    def __init__(self, seed: int, clock: datetime, days: int) -> None:
        self.rng = random.Random(seed)
        self.end = clock.timestamp()
        self.span = days * 86400

    def at(self) -> str:
        rng = self.rng
        while True:
            ts = int(self.end - 1 - rng.random() * (self.span - 1))
            if rng.random() < _HOUR_ACCEPT[(ts + 3 * 3600) // 3600 % 24]:
                return datetime.fromtimestamp(ts, MSK).isoformat()


# --- WB ---------------------------------------------------------------------------------------


def wb_marketplace_warehouses(count: int) -> list[dict[str, Any]]:
    """The first `count` real WB warehouses; past the list, numbered variants ("Коледино 2")."""
    rows: list[dict[str, Any]] = []
    for wid, name, region in WB_WAREHOUSES[:count]:
        row: dict[str, Any] = {"id": wid, "name": name, "region": region, "kind": "marketplace"}
        if "СГТ" in name:
            row["oversized"] = True
        rows.append(row)
    names = {name for _, name, _ in WB_WAREHOUSES}
    # "Коледино 2" reads like WB; "Подольск 3 2" or "Электросталь СГТ 2" would not.
    bases = [
        w
        for w in WB_WAREHOUSES
        if not any(c.isdigit() for c in w[1]) and "(" not in w[1] and "СГТ" not in w[1]
    ]
    next_id = max(wid for wid, _, _ in WB_WAREHOUSES) + 1
    number = 2
    while len(rows) < count:
        for _, name, region in bases:
            if len(rows) == count:
                break
            variant = f"{name} {number}"
            if variant not in names:
                rows.append({"id": next_id, "name": variant, "region": region, "kind": "marketplace"})
                names.add(variant)
                next_id += 1
        number += 1
    return rows


def _wb_products(rng: random.Random, count: int, brands: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    nm_ids = rng.sample(range(10_000_000, 1_000_000_000), count)
    size_counts = []
    picks = []
    for _ in range(count):
        category = rng.choice(CATEGORIES)
        n = 1 if len(category.sizes) == 1 else rng.randint(2, min(5, len(category.sizes)))
        picks.append(category)
        size_counts.append(n)
    chrt_ids = iter(rng.sample(range(100_000_000, 1_000_000_000), sum(size_counts)))
    products = []
    for i, (nm_id, category, n) in enumerate(zip(nm_ids, picks, size_counts, strict=True)):
        _, brand, prefix = rng.choice(brands)
        start = rng.randint(0, len(category.sizes) - n)
        sizes = []
        for tech_size in category.sizes[start : start + n]:
            chrt_id = next(chrt_ids)
            # Own WB barcodes start with 20; some sellers bring GS1 Russia (46x) codes. Both embed
            # the unique chrt_id, so barcodes are unique too.
            body = f"20{chrt_id:010d}" if rng.random() < 0.7 else f"460{chrt_id:09d}"
            sizes.append({"chrt_id": chrt_id, "tech_size": tech_size, "barcodes": [ean13(body)]})
        color = rng.choice(COLORS)
        products.append(
            {
                "nm_id": nm_id,
                "vendor_code": f"{prefix}-{category.code}-{i + 1:05d}",
                "brand": brand,
                "subject": category.subject,
                "title": f"{category.noun} {rng.choice(category.details)}, цвет {color}",
                "sizes": sizes,
            }
        )
    return products


_BY_SUBJECT = {c.subject: c for c in CATEGORIES}


def _price(rng: random.Random, subject: str) -> float:
    """A shelf price like sellers set them: 1990, 1989, 1980."""
    low, high = _BY_SUBJECT[subject].price
    return float(rng.randrange(low, high, 10) - rng.choice((0, 0, 1, 10)))


def _wb_seller(
    rng: random.Random,
    name: str,
    token: str,
    brands: list[tuple[str, str, str]],
    skus: int,
    warehouses: int,
    days: int,
    clock: datetime,
) -> dict[str, Any]:
    market = wb_marketplace_warehouses(warehouses)
    own = [
        {"id": wid, "name": wname, "region": region, "kind": "seller"}
        for wid, wname, region in WB_SELLER_WAREHOUSES[: rng.choice((1, 1, 2))]
    ]
    market_ids = [w["id"] for w in market]
    own_ids = [w["id"] for w in own]
    cum = _zipf_cum(rng, len(market_ids))
    products = _wb_products(rng, skus, brands)
    times = _Clock(rng.getrandbits(64), clock, days)
    fbs_share = rng.uniform(0.2, 0.5)  # the share of sizes the seller also keeps in its own warehouse

    stocks: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for product in products:
        price = _price(rng, product["subject"])
        for size in product["sizes"]:
            chrt_id = size["chrt_id"]
            held: list[tuple[int, int]] = []  # (warehouse id, quantity) for picking order warehouses
            for wid in _pick_distinct(rng, market_ids, cum, _spread(rng)):
                quantity = _small_quantity(rng)
                to_client = 1 + int(rng.expovariate(0.8)) if rng.random() < 0.25 else 0
                from_client = rng.choice((1, 1, 2)) if rng.random() < 0.08 else 0
                if quantity or to_client or from_client:
                    stocks.append(
                        {
                            "chrt_id": chrt_id,
                            "warehouse_id": wid,
                            "quantity": quantity,
                            "in_way_to_client": to_client,
                            "in_way_from_client": from_client,
                        }
                    )
                if quantity:
                    held.append((wid, quantity))
            if own_ids and rng.random() < fbs_share:
                wid = own_ids[0] if len(own_ids) == 1 or rng.random() < 0.8 else own_ids[1]
                quantity = _fbs_quantity(rng)
                stocks.append(
                    {
                        "chrt_id": chrt_id,
                        "warehouse_id": wid,
                        "quantity": quantity,
                        "in_way_to_client": 0,
                        "in_way_from_client": 0,
                    }
                )
                held.append((wid, quantity))
            held_cum = list(accumulate(q for _, q in held))
            for _ in range(_order_count(rng, held_cum[-1] if held else 0, days)):
                wid = _order_warehouse(rng, held, held_cum, market_ids, cum)
                orders.append(
                    {
                        "id": wb_srid(rng, len(orders)),
                        "at": times.at(),
                        "chrt_id": chrt_id,
                        "warehouse_id": wid,
                        "price": float(round(price * rng.uniform(0.93, 1.0))),
                        "cancelled": rng.random() < CANCEL_SHARE,
                    }
                )
    return {
        "name": name,
        "marketplace": "wildberries",
        "credentials": {"token": token},
        "products": products,
        "warehouses": market + own,
        "stocks": stocks,
        "orders": orders,
    }


# --- Ozon -------------------------------------------------------------------------------------


def ozon_fbo_warehouses(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """The first `count` Ozon FBO warehouses; past the list, numbered variants ("ХОРУГВИНО_РФЦ_2")."""
    ids = rng.sample(range(10_000_000_000, 25_000_000_000), count)  # ×1000: 14 digits ending in 000
    rows = []
    for i in range(count):
        name, cluster = OZON_FBO_WAREHOUSES[i % len(OZON_FBO_WAREHOUSES)]
        if i >= len(OZON_FBO_WAREHOUSES):
            name = f"{name}_{i // len(OZON_FBO_WAREHOUSES) + 1}"
        rows.append(
            {
                "id": ids[i] * 1000,
                "name": name,
                "kind": "marketplace",
                "cluster": cluster,
                "cluster_id": OZON_CLUSTERS[cluster],
            }
        )
    return rows


def _ozon_seller(
    rng: random.Random,
    name: str,
    wb_products: list[dict[str, Any]],
    warehouses: int,
    days: int,
    clock: datetime,
) -> dict[str, Any]:
    """The same tenant's Ozon shop: one Ozon product per WB card (offer_id = WB vendor code)."""
    credentials = {
        "client_id": str(rng.randint(100_000, 9_999_999)),
        "api_key": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }
    fbo = ozon_fbo_warehouses(rng, warehouses)
    fbs_ids = rng.sample(range(10**13, 10**14), rng.choice((1, 2)))
    fbs = [{"id": wid, "name": OZON_SELLER_WAREHOUSES[i], "kind": "seller"} for i, wid in enumerate(fbs_ids)]
    fbo_ids = [w["id"] for w in fbo]
    cum = _zipf_cum(rng, len(fbo_ids))
    product_ids = rng.sample(range(100_000_000, 1_000_000_000), len(wb_products))
    ozon_skus = rng.sample(range(100_000_000, 4_000_000_000), len(wb_products))
    times = _Clock(rng.getrandbits(64), clock, days)
    fbs_share = rng.uniform(0.2, 0.5)
    posting = rng.randint(10**8, 5 * 10**9)

    products: list[dict[str, Any]] = []
    stocks: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for wb, product_id, sku in zip(wb_products, product_ids, ozon_skus, strict=True):
        products.append(
            {
                "product_id": product_id,
                "offer_id": wb["vendor_code"],
                "sku": sku,
                "name": wb["title"],
                "brand": wb["brand"],
                "category": _BY_SUBJECT[wb["subject"]].ozon_type,
                "parent_category": _BY_SUBJECT[wb["subject"]].ozon_category,
            }
        )
        price = _price(rng, wb["subject"])
        held: list[tuple[int, int]] = []
        for wid in _pick_distinct(rng, fbo_ids, cum, _spread(rng)):
            available = _small_quantity(rng)
            reserved = rng.randint(1, 3) if rng.random() < 0.2 else 0
            to_client = 1 + int(rng.expovariate(0.8)) if rng.random() < 0.2 else 0
            from_client = 1 if rng.random() < 0.06 else 0
            if available or reserved or to_client or from_client:
                stocks.append(
                    {
                        "sku": sku,
                        "warehouse_id": wid,
                        "available": available,
                        "reserved": reserved,
                        "in_way_to_client": to_client,
                        "in_way_from_client": from_client,
                    }
                )
            if available:
                held.append((wid, available))
        if rng.random() < fbs_share:
            wid = fbs_ids[0] if len(fbs_ids) == 1 or rng.random() < 0.8 else fbs_ids[1]
            available = _fbs_quantity(rng)
            stocks.append(
                {
                    "sku": sku,
                    "warehouse_id": wid,
                    "available": available,
                    "reserved": _fbs_reserved(sku),
                    "in_way_to_client": 0,
                    "in_way_from_client": 0,
                }
            )
            held.append((wid, available))
        held_cum = list(accumulate(q for _, q in held))
        for _ in range(_order_count(rng, held_cum[-1] if held else 0, days)):
            wid = _order_warehouse(rng, held, held_cum, fbo_ids, cum)
            posting += rng.randint(1, 997)  # strictly increasing, so posting numbers are unique
            orders.append(
                {
                    "id": f"{posting:010d}-{rng.randint(1, 9999):04d}-1",
                    "at": times.at(),
                    "sku": sku,
                    "warehouse_id": wid,
                    "quantity": 1 if rng.random() < 0.9 else rng.randint(2, 3),
                    "price": float(round(price * rng.uniform(0.9, 1.0))),
                    "cancelled": rng.random() < CANCEL_SHARE,
                }
            )
    return {
        "name": name,
        "marketplace": "ozon",
        "credentials": credentials,
        "products": products,
        "warehouses": fbo + fbs,
        "stocks": stocks,
        "orders": orders,
    }


# --- scenario ---------------------------------------------------------------------------------


def _msk_clock(clock: datetime | None) -> datetime:
    if clock is None:
        return datetime.now(MSK).replace(second=0, microsecond=0)
    # A naive clock is taken as Moscow time, the marketplaces' own time zone.
    return clock.replace(tzinfo=MSK) if clock.tzinfo is None else clock.astimezone(MSK)


def generate_scenario(
    sellers: int = 2,
    skus: int = 1000,
    warehouses: int = 40,
    days: int = 30,
    seed: int = 1,
    clock: datetime | None = None,
) -> dict[str, Any]:
    """A DESIGN §5 scenario: `sellers` WB sellers, every even-numbered one also on Ozon (same name).

    Each WB seller has `skus` cards and `warehouses` WB warehouses (+1–2 of its own); each Ozon
    shop has `skus` products and `warehouses` FBO warehouses (+1–2 FBS). Orders cover the `days`
    days before `clock` (default: now, to the minute, MSK).
    """
    if sellers < 1 or skus < 1 or warehouses < 1 or days < 1:
        raise ValueError("sellers, skus, warehouses and days must be positive")
    now = _msk_clock(clock)
    result: list[dict[str, Any]] = []
    for i in range(1, sellers + 1):
        # One generator per seller and marketplace: a seller's data doesn't depend on the others.
        rng = random.Random(f"{seed}:{i}:wb")
        slug, brand, prefix = BRANDS[(i - 1) % len(BRANDS)]
        name = f"seller-{i}-{slug}"
        # Most sellers trade under one brand; some carry a second, smaller one.
        brands = [(slug, brand, prefix)] * 4 + [BRANDS[(i + 4) % len(BRANDS)]] * rng.choice((0, 1))
        # Credentials from their own generator: the same seed gives the same keys at any size.
        token = make_token(random.Random(f"{seed}:{i}:token"), expires_at=TOKEN_EXPIRES_AT)
        wb = _wb_seller(rng, name, token, brands, skus, warehouses, days, now)
        result.append(wb)
        if i % 2 == 0:
            result.append(
                _ozon_seller(random.Random(f"{seed}:{i}:ozon"), name, wb["products"], warehouses, days, now)
            )
    return {"version": 1, "clock": now.isoformat(), "wb_warehouse_mode": "detailed", "sellers": result}
