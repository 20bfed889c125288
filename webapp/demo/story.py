"""What ``flask demo`` tells: a coffee-shop chain's month of SMS campaigns, in Russian or English.

Only data lives here (names, cities, texts, when things happened); webapp/demo/month.py makes it
happen through the product's own code. Days are counted back from today, times are the
team's (Europe/Moscow).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

SENDER = "MyBrand"  # an active name of every sandbox account (webapp/sandbox/accounts.py)
SEND_RATE = 10  # messages a second: the team's setting, so the running campaign lasts a minute
LOW_BALANCE = Decimal("500.00")  # RUB: the warning the owner set
TOP_UP = Decimal("10000.00")  # RUB, added to the sandbox account after the first weeks
# Mobile prefixes of Russian operators (Moscow, St Petersburg, the Urals, Siberia...).
PREFIXES = ("903", "905", "911", "912", "913", "915", "916", "917", "921", "925", "926", "977")


@dataclass(frozen=True)
class ListSpec:
    """A contact list: ``size`` contacts, uploaded as a CSV file or (no file) typed by hand."""

    key: str
    name: str
    size: int
    filename: str | None = None


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign sent ``day`` days ago at ``time`` (negative: in the days to come) to the
    lists named by key; ``lost_call``: the send.json call whose reply is lost (its messages
    become unknown)."""

    day: int
    time: str
    name: str
    text: str
    lists: tuple[str, ...]
    lost_call: int | None = None


@dataclass(frozen=True)
class Story:
    team: str
    first_name: str  # the field names, as a CSV header has them
    city: str
    phone: str
    names: tuple[str, ...]
    cities: tuple[str, ...]  # the first is the most common
    lists: tuple[ListSpec, ...]
    stop_list: tuple[int, str]  # when people asked for no more offers: days ago, time
    stop_reason: str
    top_up: tuple[int, str]  # when the owner topped the account up
    templates: tuple[tuple[str, str], ...]
    past: tuple[CampaignSpec, ...]
    live: CampaignSpec  # sent as the demo ends: the worker sends it
    scheduled: CampaignSpec
    draft: tuple[str, str]


# fmt: off
RU_NAMES = (
    "Анна", "Мария", "Елена", "Ольга", "Наталья", "Екатерина", "Татьяна", "Ирина", "Светлана",
    "Юлия", "Дарья", "Алина", "Ксения", "Полина", "Виктория", "Софья", "Александр", "Дмитрий",
    "Сергей", "Андрей", "Алексей", "Максим", "Иван", "Михаил", "Никита", "Артём", "Егор",
    "Павел", "Роман", "Илья", "Кирилл", "Владимир",
)
EN_NAMES = (
    "Anna", "Maria", "Elena", "Olga", "Natalia", "Ekaterina", "Tatiana", "Irina", "Svetlana",
    "Julia", "Daria", "Alina", "Ksenia", "Polina", "Victoria", "Sofia", "Alexander", "Dmitry",
    "Sergei", "Andrei", "Alexei", "Maxim", "Ivan", "Mikhail", "Nikita", "Artem", "Egor",
    "Pavel", "Roman", "Ilya", "Kirill", "Vladimir",
)
# fmt: on

RU = Story(
    team="Кофейня «Бодрое утро»",
    first_name="Имя",
    city="Город",
    phone="Телефон",
    names=RU_NAMES,
    cities=("Москва", "Санкт-Петербург", "Казань", "Екатеринбург", "Новосибирск"),
    lists=(
        ListSpec("loyal", "Программа лояльности", 520, "программа-лояльности.csv"),
        ListSpec("new", "Новые гости", 140, "новые-гости.csv"),
        ListSpec("staff", "Сотрудники", 18),
    ),
    stop_list=(15, "12:40"),
    stop_reason="Попросил не присылать рекламу",
    top_up=(20, "10:15"),
    templates=(
        ("Скидка по SMS", "{Имя|Друзья}, покажите это SMS на кассе — скидка 10% на заказ."),
        ("Дегустация", "Приглашаем на дегустацию новых зёрен в «Бодром утре». Вход свободный!"),
        ("Сотрудникам", "Коллеги, завтра инвентаризация с 8:00. Спасибо!"),
    ),
    past=(
        CampaignSpec(
            27, "11:00", "Добро пожаловать",
            "{Имя|Здравствуйте}, спасибо, что заглянули в «Бодрое утро»! Покажите это SMS — "
            "второй кофе в подарок.",
            ("new",),
        ),
        CampaignSpec(
            24, "18:30", "Планёрка в понедельник",
            "Коллеги, планёрка в понедельник в 9:30 в кофейне на Тверской. Не опаздывайте!",
            ("staff",),
        ),
        CampaignSpec(
            19, "12:00", "Новое меню",
            "{Имя|Друзья}, в «Бодром утре» новое меню: раф с халвой и вишнёвый пирог. "
            "Покажите SMS — скидка 15% до воскресенья.",
            ("loyal",), lost_call=20,
        ),
        CampaignSpec(
            10, "11:00", "День рождения кофейни",
            "«Бодрому утру» 5 лет! В субботу капучино за 99 ₽ во всех наших кофейнях. Ждём вас!",
            ("loyal", "new"),
        ),
        CampaignSpec(
            3, "17:00", "Вечерняя выпечка",
            "После 19:00 выпечка −30% в «Бодром утре». Ждём вас вечером!",
            ("new",),
        ),
    ),
    live=CampaignSpec(
        0, "", "Напитки недели",
        "{Имя|Друзья}, в «Бодром утре» напитки недели: какао −20% до пятницы!",
        ("loyal",),
    ),
    scheduled=CampaignSpec(
        -1, "10:00", "Дегустация на Невском",
        "Сегодня в 18:00 дегустация новых зёрен в «Бодром утре» на Невском. Вход свободный!",
        ("new",),
    ),
    draft=("Торты на заказ", "Закажите торт к празднику заранее: "),
)  # fmt: skip

EN = Story(
    team="Good Morning Coffee",
    first_name="first_name",
    city="city",
    phone="phone",
    names=EN_NAMES,
    cities=("Moscow", "Saint Petersburg", "Kazan", "Yekaterinburg", "Novosibirsk"),
    lists=(
        ListSpec("loyal", "Loyalty programme", 520, "loyalty-programme.csv"),
        ListSpec("new", "New guests", 140, "new-guests.csv"),
        ListSpec("staff", "Staff", 18),
    ),
    stop_list=(15, "12:40"),
    stop_reason="Asked not to receive offers",
    top_up=(20, "10:15"),
    templates=(
        ("SMS discount", "{first_name|Friends}, show this SMS at the counter for 10% off."),
        ("Tasting", "Come to a tasting of new beans at Good Morning Coffee. Free entry!"),
        ("Staff notice", "Team, stocktaking tomorrow from 8:00. Thank you!"),
    ),
    past=(
        CampaignSpec(
            27, "11:00", "Welcome",
            "{first_name|Hello}, thanks for visiting Good Morning Coffee! Show this SMS today "
            "and your second coffee is on us.",
            ("new",),
        ),
        CampaignSpec(
            24, "18:30", "Monday briefing",
            "Team, Monday briefing at 9:30 in the Tverskaya shop. Please be on time!",
            ("staff",),
        ),
        CampaignSpec(
            19, "12:00", "New menu",
            "{first_name|Friends}, a new menu at Good Morning Coffee: halva raf and cherry pie. "
            "Show this SMS for 15% off until Sunday. Reply STOP to opt out.",
            ("loyal",), lost_call=20,
        ),
        CampaignSpec(
            10, "11:00", "Our 5th birthday",
            "Good Morning Coffee turns 5! This Saturday a cappuccino is 99 RUB in every shop.",
            ("loyal", "new"),
        ),
        CampaignSpec(
            3, "17:00", "Evening pastries",
            "After 7 pm pastries are 30% off at Good Morning Coffee. See you tonight!",
            ("new",),
        ),
    ),
    live=CampaignSpec(
        0, "", "Drinks of the week",
        "{first_name|Friends}, drinks of the week at Good Morning Coffee: cocoa and matcha are "
        "20% off until Friday!",
        ("loyal",),
    ),
    scheduled=CampaignSpec(
        -1, "10:00", "Tasting on Nevsky",
        "Today at 6 pm: a tasting of new beans at our Nevsky shop. Free entry, see you there!",
        ("new",),
    ),
    draft=("Cakes to order", "Order a cake for your celebration in advance: "),
)  # fmt: skip

STORIES = {"ru": RU, "en": EN}


def phone(rng: random.Random) -> str:
    """A Russian mobile number, as people type them into a spreadsheet."""
    prefix, rest = rng.choice(PREFIXES), f"{rng.randrange(10_000_000):07d}"
    return rng.choice(
        (
            f"+7 {prefix} {rest[:3]}-{rest[3:5]}-{rest[5:]}",
            f"8{prefix}{rest}",
            f"7 ({prefix}) {rest}",
            f"+7{prefix}{rest}",
        )
    )


def contacts(story: Story, spec: ListSpec, rng: random.Random) -> list[tuple[str, str, str]]:
    """(phone, first name, city) rows; a few without a first name, most in the first city."""
    rows = []
    for _ in range(spec.size):
        name = "" if rng.random() < 0.04 else rng.choice(story.names)
        city = story.cities[0] if rng.random() < 0.45 else rng.choice(story.cities)
        rows.append((phone(rng), name, city))
    return rows


def csv_file(story: Story, rows: list[tuple[str, str, str]], rng: random.Random) -> bytes:
    """The rows as a spreadsheet saves them for Russian Excel (``;``, UTF-8 with BOM), with
    what real files hold: a repeated row and a couple of numbers that are not phones."""
    lines = [f"{story.phone};{story.first_name};{story.city}"]
    lines += [";".join(row) for row in rows]
    lines.insert(rng.randrange(2, len(lines)), lines[-1])
    lines.insert(rng.randrange(2, len(lines)), f"8-916-12;{rng.choice(story.names)};")
    lines.insert(rng.randrange(2, len(lines)), f";{rng.choice(story.names)};{story.cities[0]}")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()
