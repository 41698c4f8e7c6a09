"""Synthetic retail databases (tau-bench v1 layout): realistic, internally consistent, deterministic, fast.

``generate_retail(seed, users=500, orders=1000, products=50)`` returns ``{"users": ..., "orders": ...,
"products": ...}``, each table a dict keyed by id, records with the same key order as tau-bench's.
Guarantees:

* every reference resolves: ``order.user_id`` is a user, ``user.orders`` lists exactly that user's
  orders (in creation order), order items are variants of their product (same name, options, price
  as the catalogue at generation time), every ``payment_method_id`` belongs to the order's user;
* the first payment of an order equals the sum of its original item prices (rounded to 2 dp) and
  payments minus refunds equal the sum of the current item prices (``0`` for cancelled orders);
* statuses roughly like tau-bench (many pending and delivered, some processed and cancelled) plus a
  few ``pending (item modified)``, ``exchange requested`` and ``return requested`` orders carrying
  the fields the tools add; cancelled orders carry a refund and a ``cancel_reason``;
* fulfillments (12-digit tracking ids, covering all items) only on processed, delivered, exchange
  requested and return requested orders;
* all ids unique (user ids ``first_last_1234``, orders ``#W1234567``, 10-digit product and item
  ids, ``credit_card_1234567`` / ``gift_card_1234567`` / ``paypal_1234567`` payment methods) and
  emails unique (``first.last1234@example.com``).

Only ``random.Random(seed)`` is used (no clock, no set iteration), so the same seed gives the same
tables, and :func:`write_tau_layout` the same bytes. More products than the built-in catalogue of
product types reuse the types (same product name, different product id and variants).

Scale: 100,000 users and 200,000 orders generate in a few seconds; writing them with
:func:`write_tau_layout` (``indent=2``, like tau-bench's files) dominates.
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Mapping
from itertools import accumulate, product
from json.encoder import c_make_encoder, encode_basestring_ascii
from pathlib import Path
from typing import Any

from casework.domains.retail.tools import CANCEL_REASONS

# -- catalogue -------------------------------------------------------------------------------------
# (name, (low, high) base price in USD, {option: values}); variants are sampled option combinations.
CATALOGUE: tuple[tuple[str, tuple[float, float], dict[str, tuple[str, ...]]], ...] = (
    (
        "T-Shirt",
        (18, 45),
        {
            "color": ("white", "black", "navy", "heather grey", "olive"),
            "size": ("XS", "S", "M", "L", "XL", "XXL"),
            "material": ("cotton", "organic cotton", "cotton blend"),
            "fit": ("regular", "slim"),
        },
    ),
    (
        "Office Chair",
        (160, 520),
        {
            "material": ("mesh", "fabric", "faux leather"),
            "color": ("black", "grey", "white"),
            "armrest": ("fixed", "adjustable"),
            "lumbar support": ("yes", "no"),
        },
    ),
    (
        "Water Bottle",
        (14, 42),
        {
            "capacity": ("500ml", "750ml", "1L"),
            "material": ("stainless steel", "tritan plastic", "glass"),
            "color": ("teal", "black", "coral", "white"),
        },
    ),
    (
        "Laptop",
        (780, 2400),
        {
            "screen size": ("13-inch", "14-inch", "16-inch"),
            "processor": ("4-core", "8-core", "12-core"),
            "memory": ("8GB", "16GB", "32GB"),
            "storage": ("256GB SSD", "512GB SSD", "1TB SSD"),
            "color": ("silver", "graphite"),
        },
    ),
    (
        "Smartphone",
        (420, 1250),
        {
            "color": ("midnight", "silver", "sky blue", "sage"),
            "storage": ("128GB", "256GB", "512GB"),
            "screen size": ("6.1-inch", "6.7-inch"),
        },
    ),
    (
        "Running Shoes",
        (70, 180),
        {
            "size": ("7", "8", "9", "10", "11", "12"),
            "color": ("black", "white", "volt", "blue"),
            "cushioning": ("neutral", "stability"),
        },
    ),
    (
        "Hiking Boots",
        (110, 260),
        {
            "size": ("7", "8", "9", "10", "11", "12"),
            "material": ("leather", "synthetic"),
            "waterproof": ("yes", "no"),
        },
    ),
    (
        "Backpack",
        (45, 190),
        {
            "color": ("black", "forest green", "navy", "tan"),
            "capacity": ("18L", "24L", "32L"),
            "material": ("nylon", "canvas", "recycled polyester"),
        },
    ),
    (
        "Coffee Maker",
        (40, 260),
        {
            "type": ("drip", "single serve", "pour over"),
            "capacity": ("4 cups", "8 cups", "12 cups"),
            "color": ("black", "stainless steel", "white"),
        },
    ),
    (
        "Espresso Machine",
        (230, 1400),
        {
            "boiler": ("single", "dual", "thermoblock"),
            "grinder": ("built-in", "none"),
            "color": ("brushed steel", "black", "cream"),
        },
    ),
    (
        "Desk Lamp",
        (25, 120),
        {
            "color": ("black", "white", "brass"),
            "brightness": ("600 lumens", "900 lumens"),
            "power source": ("USB", "AC adapter"),
        },
    ),
    (
        "Notebook",
        (6, 28),
        {
            "size": ("A4", "A5", "pocket"),
            "ruling": ("lined", "dotted", "blank"),
            "cover": ("hardcover", "softcover"),
        },
    ),
    (
        "Sunglasses",
        (60, 240),
        {
            "frame color": ("black", "tortoise", "gold"),
            "lens": ("polarized", "non-polarized"),
            "lens color": ("grey", "green", "brown"),
        },
    ),
    (
        "Wristwatch",
        (120, 900),
        {
            "case size": ("38mm", "40mm", "42mm"),
            "strap": ("leather", "steel bracelet", "nylon"),
            "dial color": ("black", "white", "blue"),
        },
    ),
    (
        "Electric Toothbrush",
        (35, 180),
        {"color": ("white", "black", "pink"), "modes": ("3 modes", "5 modes"), "charging": ("dock", "USB-C")},
    ),
    (
        "Yoga Mat",
        (22, 95),
        {
            "thickness": ("4mm", "6mm", "8mm"),
            "material": ("TPE", "natural rubber", "PVC"),
            "color": ("purple", "blue", "charcoal", "sand"),
        },
    ),
    (
        "Bluetooth Speaker",
        (35, 320),
        {
            "color": ("black", "red", "blue", "white"),
            "battery life": ("10 hours", "20 hours"),
            "water resistance": ("IPX4", "IP67"),
        },
    ),
    (
        "Gaming Mouse",
        (25, 140),
        {"connection": ("wired", "wireless"), "sensor": ("optical", "laser"), "color": ("black", "white")},
    ),
    (
        "Mechanical Keyboard",
        (60, 230),
        {
            "switch type": ("linear", "tactile", "clicky"),
            "layout": ("full size", "tenkeyless", "75%"),
            "backlight": ("RGB", "white", "none"),
        },
    ),
    (
        "Wireless Earbuds",
        (40, 280),
        {
            "color": ("black", "white", "navy"),
            "noise cancelling": ("yes", "no"),
            "case": ("wireless charging", "USB-C"),
        },
    ),
    (
        "Headphones",
        (50, 420),
        {
            "type": ("over-ear", "on-ear"),
            "connection": ("wired", "bluetooth"),
            "color": ("black", "silver", "blue"),
        },
    ),
    (
        "Tablet",
        (280, 1100),
        {
            "screen size": ("10-inch", "11-inch", "13-inch"),
            "storage": ("64GB", "128GB", "256GB"),
            "connectivity": ("wi-fi", "wi-fi + cellular"),
            "color": ("space grey", "silver"),
        },
    ),
    (
        "E-Reader",
        (90, 280),
        {
            "screen size": ("6-inch", "7-inch"),
            "storage": ("8GB", "16GB", "32GB"),
            "ads": ("with ads", "without ads"),
        },
    ),
    (
        "Portable Charger",
        (20, 90),
        {
            "capacity": ("5000mAh", "10000mAh", "20000mAh"),
            "output": ("USB-A", "USB-C", "USB-C + USB-A"),
            "color": ("black", "white"),
        },
    ),
    (
        "Smart Watch",
        (150, 650),
        {
            "case size": ("41mm", "45mm"),
            "band": ("sport band", "leather", "steel link"),
            "connectivity": ("GPS", "GPS + cellular"),
            "color": ("black", "silver", "rose"),
        },
    ),
    (
        "Action Camera",
        (180, 520),
        {"resolution": ("4K", "5.3K"), "stabilization": ("standard", "advanced"), "color": ("black", "grey")},
    ),
    (
        "Digital Camera",
        (450, 2600),
        {
            "sensor": ("APS-C", "full frame"),
            "resolution": ("24MP", "33MP", "45MP"),
            "kit lens": ("body only", "with kit lens"),
        },
    ),
    (
        "Indoor Security Camera",
        (30, 190),
        {
            "resolution": ("1080p", "2K", "4K"),
            "field of view": ("110 degrees", "130 degrees"),
            "storage": ("cloud", "microSD"),
        },
    ),
    (
        "Smart Thermostat",
        (90, 280),
        {"color": ("white", "black", "stainless steel"), "compatibility": ("standard HVAC", "heat pump")},
    ),
    (
        "LED Light Bulb",
        (6, 35),
        {
            "brightness": ("60W equivalent", "75W equivalent", "100W equivalent"),
            "color temperature": ("warm white", "daylight", "tunable"),
            "connectivity": ("none", "wi-fi"),
        },
    ),
    (
        "Electric Kettle",
        (25, 150),
        {
            "capacity": ("1L", "1.5L", "1.7L"),
            "material": ("stainless steel", "glass", "plastic"),
            "temperature control": ("yes", "no"),
        },
    ),
    (
        "Tea Kettle",
        (22, 110),
        {
            "capacity": ("1.5 quart", "2 quart", "3 quart"),
            "material": ("stainless steel", "enamel", "cast iron"),
            "stovetop": ("gas", "induction"),
        },
    ),
    (
        "Air Purifier",
        (90, 650),
        {
            "room size": ("small", "medium", "large"),
            "filter": ("HEPA", "HEPA + carbon"),
            "color": ("white", "grey"),
        },
    ),
    (
        "Vacuum Cleaner",
        (110, 750),
        {
            "type": ("upright", "stick", "robotic", "canister"),
            "bagged": ("bagged", "bagless"),
            "power": ("corded", "cordless"),
        },
    ),
    (
        "Fleece Jacket",
        (45, 160),
        {
            "size": ("S", "M", "L", "XL"),
            "color": ("black", "navy", "burgundy", "oatmeal"),
            "zipper": ("full zip", "quarter zip"),
        },
    ),
    (
        "Rain Jacket",
        (60, 260),
        {"size": ("S", "M", "L", "XL"), "color": ("yellow", "black", "olive"), "hood": ("packable", "fixed")},
    ),
    (
        "Wall Clock",
        (20, 140),
        {
            "diameter": ("10 inches", "12 inches", "16 inches"),
            "movement": ("quartz", "silent sweep"),
            "color": ("black", "walnut", "white"),
        },
    ),
    (
        "Dumbbell Set",
        (60, 420),
        {
            "weight range": ("5-25 lbs", "5-50 lbs", "10-90 lbs"),
            "type": ("adjustable", "fixed"),
            "material": ("iron", "rubber coated"),
        },
    ),
    (
        "Pet Bed",
        (25, 140),
        {
            "size": ("small", "medium", "large"),
            "material": ("memory foam", "polyfill"),
            "color": ("grey", "brown", "beige"),
        },
    ),
    (
        "Cycling Helmet",
        (45, 260),
        {
            "size": ("S", "M", "L"),
            "color": ("matte black", "white", "red"),
            "ventilation": ("standard", "high"),
        },
    ),
    (
        "Bicycle",
        (380, 2200),
        {
            "frame size": ("small", "medium", "large"),
            "type": ("road", "hybrid", "mountain"),
            "color": ("red", "black", "blue"),
        },
    ),
    (
        "Skateboard",
        (50, 220),
        {
            "deck length": ("28 inch", "31 inch", "34 inch"),
            "deck material": ("maple", "bamboo"),
            "design": ("plain", "graphic"),
        },
    ),
    (
        "Bookshelf",
        (70, 480),
        {
            "material": ("oak veneer", "pine", "metal"),
            "height": ("3 ft", "5 ft", "6 ft"),
            "color": ("natural", "white", "black"),
        },
    ),
    (
        "Patio Umbrella",
        (60, 320),
        {
            "diameter": ("7.5 ft", "9 ft", "11 ft"),
            "color": ("navy", "tan", "red"),
            "tilt": ("crank tilt", "push button"),
        },
    ),
    (
        "Grill",
        (150, 1300),
        {
            "fuel": ("propane", "charcoal", "pellet"),
            "size": ("portable", "3-burner", "5-burner"),
            "side shelves": ("yes", "no"),
        },
    ),
    (
        "Luggage Set",
        (130, 650),
        {
            "pieces": ("2-piece", "3-piece"),
            "shell": ("hardside", "softside"),
            "color": ("black", "silver", "teal"),
        },
    ),
    (
        "Makeup Kit",
        (25, 160),
        {
            "shade range": ("fair", "medium", "deep"),
            "kit size": ("travel", "standard", "deluxe"),
            "finish": ("matte", "dewy"),
        },
    ),
    (
        "Perfume",
        (45, 260),
        {
            "scent family": ("floral", "woody", "citrus", "oriental"),
            "size": ("30ml", "50ml", "100ml"),
            "concentration": ("eau de toilette", "eau de parfum"),
        },
    ),
    (
        "Jigsaw Puzzle",
        (12, 45),
        {
            "pieces": ("500", "1000", "2000"),
            "theme": ("landscape", "animals", "art", "map"),
            "difficulty": ("intermediate", "expert"),
        },
    ),
    (
        "Garden Hose",
        (20, 110),
        {
            "length": ("25 ft", "50 ft", "100 ft"),
            "material": ("rubber", "vinyl", "hybrid polymer"),
            "color": ("green", "black"),
        },
    ),
    (
        "Blender",
        (40, 480),
        {
            "capacity": ("24 oz", "48 oz", "64 oz"),
            "power": ("700W", "1200W", "1500W"),
            "color": ("black", "white", "red"),
        },
    ),
    (
        "Sneakers",
        (55, 170),
        {
            "size": ("7", "8", "9", "10", "11", "12"),
            "color": ("white", "black", "grey"),
            "material": ("canvas", "leather", "knit"),
        },
    ),
)

# -- people and places -----------------------------------------------------------------------------
FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mason",
    "Sophia",
    "Ethan",
    "Isabella",
    "Lucas",
    "Mia",
    "Aiden",
    "Amelia",
    "James",
    "Harper",
    "Daniel",
    "Evelyn",
    "Mateo",
    "Abigail",
    "Yusuf",
    "Emily",
    "Omar",
    "Chloe",
    "Leo",
    "Aaliyah",
    "Ivan",
    "Sofia",
    "Arjun",
    "Priya",
    "Wei",
    "Mei",
    "Hiro",
    "Yuki",
    "Kenji",
    "Fatima",
    "Amara",
    "Diego",
    "Lucia",
    "Carlos",
    "Elena",
    "Nadia",
    "Samir",
    "Grace",
    "Henry",
    "Zoe",
    "Jack",
    "Lily",
    "Owen",
    "Hannah",
    "Caleb",
    "Aria",
    "Julian",
    "Layla",
    "Ezra",
    "Nora",
    "Rafael",
    "Ingrid",
    "Tomas",
    "Anika",
    "Kofi",
    "Maya",
    "Elijah",
    "Stella",
    "Malik",
    "Rosa",
    "Dmitri",
    "Sara",
    "Luca",
    "Noor",
    "Gabriel",
    "Iris",
    "Xavier",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Kim",
    "Patel",
    "Chen",
    "Wang",
    "Singh",
    "Khan",
    "Sato",
    "Tanaka",
    "Ito",
    "Silva",
    "Santos",
    "Costa",
    "Ahmed",
    "Ali",
    "Novak",
    "Kowalski",
    "Muller",
    "Rossi",
    "Okafor",
    "Mensah",
    "Cohen",
    "Larsen",
    "Dubois",
    "Murphy",
    "Sullivan",
)
STREETS = (
    "Main Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Pine Street",
    "Elm Street",
    "Washington Avenue",
    "Lake Shore Drive",
    "Hillcrest Road",
    "Sunset Boulevard",
    "River Road",
    "Park Place",
    "Highland Avenue",
    "Willow Way",
    "Chestnut Street",
    "Spruce Court",
    "Meadow Lane",
    "Forest Drive",
    "Lincoln Avenue",
    "Jefferson Street",
    "Broadway",
    "Market Street",
    "Church Street",
    "Mill Road",
    "Spring Street",
    "Valley View Road",
    "Birch Lane",
    "Aspen Court",
    "Harbor Drive",
    "Magnolia Avenue",
    "Laurel Street",
    "Poplar Avenue",
    "Cherry Lane",
    "Walnut Street",
    "Hickory Drive",
    "Sycamore Road",
    "Ridge Road",
    "Franklin Avenue",
)
# (city, state, zip prefix)
CITIES = (
    ("New York", "NY", "100"),
    ("Brooklyn", "NY", "112"),
    ("Los Angeles", "CA", "900"),
    ("San Diego", "CA", "921"),
    ("San Francisco", "CA", "941"),
    ("San Jose", "CA", "951"),
    ("Sacramento", "CA", "958"),
    ("Chicago", "IL", "606"),
    ("Houston", "TX", "770"),
    ("Dallas", "TX", "752"),
    ("Austin", "TX", "787"),
    ("San Antonio", "TX", "782"),
    ("Fort Worth", "TX", "761"),
    ("Phoenix", "AZ", "850"),
    ("Tucson", "AZ", "857"),
    ("Philadelphia", "PA", "191"),
    ("Pittsburgh", "PA", "152"),
    ("Jacksonville", "FL", "322"),
    ("Miami", "FL", "331"),
    ("Tampa", "FL", "336"),
    ("Orlando", "FL", "328"),
    ("Columbus", "OH", "432"),
    ("Cleveland", "OH", "441"),
    ("Charlotte", "NC", "282"),
    ("Raleigh", "NC", "276"),
    ("Indianapolis", "IN", "462"),
    ("Seattle", "WA", "981"),
    ("Spokane", "WA", "992"),
    ("Denver", "CO", "802"),
    ("Washington", "DC", "200"),
    ("Boston", "MA", "021"),
    ("Nashville", "TN", "372"),
    ("Memphis", "TN", "381"),
    ("Portland", "OR", "972"),
    ("Las Vegas", "NV", "891"),
    ("Detroit", "MI", "482"),
    ("Baltimore", "MD", "212"),
    ("Milwaukee", "WI", "532"),
    ("Albuquerque", "NM", "871"),
    ("Atlanta", "GA", "303"),
    ("Kansas City", "MO", "641"),
    ("Minneapolis", "MN", "554"),
    ("Salt Lake City", "UT", "841"),
    ("New Orleans", "LA", "701"),
)
CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
CARD_BRAND_CUM_WEIGHTS = tuple(accumulate((45, 40, 10, 5)))

# Order statuses and their share (tau-bench has ~42% pending, 37% delivered, 10% processed, 10% cancelled).
STATUS_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("pending", 38),
    ("processed", 10),
    ("delivered", 34),
    ("cancelled", 10),
    ("pending (item modified)", 2),
    ("exchange requested", 3),
    ("return requested", 3),
)
FULFILLED_STATUSES = frozenset({"processed", "delivered", "exchange requested", "return requested"})
# Payment methods per user: 1 (67%), 2 (27%), 3 (5%), 4 (1%); sources ~ 36% credit card, 34% gift card,
# 30% PayPal, at most one gift card and one PayPal account per user.
N_METHODS_CUM_WEIGHTS = tuple(accumulate((67, 27, 5, 1)))
SOURCE_CUM_WEIGHTS = tuple(accumulate((36, 34, 30)))
SOURCES = ("credit_card", "gift_card", "paypal")
VARIANT_AVAILABLE_P = 0.7  # share of variants in stock
ORDER_AT_HOME_P = 0.8  # share of orders shipped to the user's own address
SPLIT_FULFILLMENT_P = 0.1  # share of multi-item fulfilled orders shipped in two parcels

TABLE_NAMES = ("users", "orders", "products")


class _Ids:
    """Unique random numeric ids drawn from ``random.Random`` (collisions are redrawn)."""

    __slots__ = ("rng", "seen")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[int] = set()

    def draw(self, low: int, high: int) -> int:
        """A number in ``[low, high)`` not drawn before (from any range)."""
        randrange, seen = self.rng.randrange, self.seen
        while True:
            n = randrange(low, high)
            if n not in seen:
                seen.add(n)
                return n


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _make_products(rng: random.Random, ids: _Ids, n: int) -> dict[str, dict[str, Any]]:
    products: dict[str, dict[str, Any]] = {}
    for i in range(n):
        name, (low, high), dims = CATALOGUE[i % len(CATALOGUE)]
        product_id = str(ids.draw(10**9, 10**10))
        base = rng.uniform(low, high)
        combos = list(product(*dims.values()))
        k = min(len(combos), rng.randint(5, 20))
        variants: dict[str, dict[str, Any]] = {}
        for combo in rng.sample(combos, k):
            item_id = str(ids.draw(10**9, 10**10))
            variants[item_id] = {
                "item_id": item_id,
                "options": dict(zip(dims, combo, strict=True)),
                "available": rng.random() < VARIANT_AVAILABLE_P,
                "price": _money(base * rng.uniform(0.9, 1.1)),
            }
        products[product_id] = {"name": name, "product_id": product_id, "variants": variants}
    return products


def _make_users(rng: random.Random, ids: _Ids, n: int) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    emails: set[str] = set()
    random_, randrange, choice, choices = rng.random, rng.randrange, rng.choice, rng.choices
    n_methods = choices((1, 2, 3, 4), cum_weights=N_METHODS_CUM_WEIGHTS, k=n)
    for i in range(n):
        first, last = choice(FIRST_NAMES), choice(LAST_NAMES)
        lf, ll = first.lower(), last.lower()
        while True:
            user_id = f"{lf}_{ll}_{randrange(1000, 10000)}"
            if user_id not in users:
                break
        while True:
            email = f"{lf}.{ll}{randrange(1000, 10000)}@example.com"
            if email not in emails:
                emails.add(email)
                break
        methods: dict[str, dict[str, Any]] = {}
        have_gift = have_paypal = False
        while len(methods) < n_methods[i]:
            r = random_() * 100
            if r < SOURCE_CUM_WEIGHTS[0]:
                pm_id = f"credit_card_{ids.draw(1_000_000, 10_000_000)}"
                brand = choices(CARD_BRANDS, cum_weights=CARD_BRAND_CUM_WEIGHTS)[0]
                methods[pm_id] = {
                    "source": "credit_card",
                    "brand": brand,
                    "last_four": f"{randrange(10000):04d}",
                    "id": pm_id,
                }
            elif r < SOURCE_CUM_WEIGHTS[1]:
                if have_gift:
                    continue
                have_gift = True
                pm_id = f"gift_card_{ids.draw(1_000_000, 10_000_000)}"
                methods[pm_id] = {"source": "gift_card", "balance": randrange(0, 101), "id": pm_id}
            else:
                if have_paypal:
                    continue
                have_paypal = True
                pm_id = f"paypal_{ids.draw(1_000_000, 10_000_000)}"
                methods[pm_id] = {"source": "paypal", "id": pm_id}
        users[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": _address(rng),
            "email": email,
            "payment_methods": methods,
            "orders": [],
        }
    return users


def _address(rng: random.Random) -> dict[str, str]:
    randrange = rng.randrange
    city, state, zip3 = rng.choice(CITIES)
    second = f"Suite {randrange(100, 1000)}" if rng.random() < 0.85 else f"Apt {randrange(1, 100)}"
    return {
        "address1": f"{randrange(100, 1000)} {rng.choice(STREETS)}",
        "address2": second,
        "city": city,
        "country": "USA",
        "state": state,
        "zip": f"{zip3}{randrange(100):02d}",
    }


def generate_retail(seed: int, users: int = 500, orders: int = 1000, products: int = 50) -> dict[str, dict]:
    """A synthetic retail database ``{"users", "orders", "products"}`` (see the module docstring)."""
    if users < 0 or orders < 0 or products < 0:
        raise ValueError("users, orders and products must be non-negative")
    if orders and (not users or not products):
        raise ValueError("orders need at least one user and one product")
    if users > 1_000_000 or orders > 3_000_000:
        raise ValueError("at most 1,000,000 users and 3,000,000 orders (the id spaces are too small beyond)")
    rng = random.Random(seed)
    ids = _Ids(rng)
    # Millions of new dicts trigger the cyclic GC over and over (3x slower at 200,000 orders); nothing
    # here makes cycles, so pause it while building.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        product_table = _make_products(rng, ids, products)
        user_table = _make_users(rng, ids, users)
        order_table = _make_orders(rng, ids, orders, user_table, product_table)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"users": user_table, "orders": order_table, "products": product_table}


def _make_orders(
    rng: random.Random,
    ids: _Ids,
    n: int,
    users: dict[str, dict[str, Any]],
    products: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    random_, randrange, choice = rng.random, rng.randrange, rng.choice
    draw = ids.draw
    # Flat views for speed: per product (name, product_id, [variant records]).
    catalogue = [(p["name"], pid, list(p["variants"].values())) for pid, p in products.items()]
    n_products = len(catalogue)
    variants_of = {product_id: variants for _, product_id, variants in catalogue}
    user_ids = list(users)
    user_records = [users[u] for u in user_ids]
    user_methods = [list(u["payment_methods"]) for u in user_records]
    user_gift = [next((m for m in ms if m.startswith("gift_card_")), None) for ms in user_methods]
    names, weights = zip(*STATUS_WEIGHTS, strict=True)
    statuses = rng.choices(names, cum_weights=tuple(accumulate(weights)), k=n)
    n_users = len(user_ids)
    table: dict[str, dict[str, Any]] = {}

    for status in statuses:
        order_id = f"#W{draw(1_000_000, 10_000_000)}"
        u = randrange(n_users)
        user_id = user_ids[u]
        user = user_records[u]
        methods = user_methods[u]
        address = dict(user["address"]) if random_() < ORDER_AT_HOME_P else _address(rng)
        # Items: 1-5 distinct variants.
        n_items = randrange(1, 6)
        items: list[dict[str, Any]] = []
        taken: list[str] = []
        while len(items) < n_items:
            name, product_id, variants = catalogue[randrange(n_products)]
            v = variants[randrange(len(variants))]
            item_id = v["item_id"]
            if item_id in taken:
                continue
            taken.append(item_id)
            items.append(
                {
                    "name": name,
                    "product_id": product_id,
                    "item_id": item_id,
                    "price": v["price"],
                    "options": dict(v["options"]),
                }
            )
        pm_id = methods[randrange(len(methods))]
        total = _money(sum(it["price"] for it in items))
        payments = [{"transaction_type": "payment", "amount": total, "payment_method_id": pm_id}]
        fulfillments: list[dict[str, Any]] = []
        if status in FULFILLED_STATUSES:
            if len(taken) > 1 and random_() < SPLIT_FULFILLMENT_P:
                cut = randrange(1, len(taken))
                parts = (taken[:cut], taken[cut:])
            else:
                parts = (taken,)
            fulfillments = [{"tracking_id": [str(draw(10**11, 10**12))], "item_ids": list(p)} for p in parts]
        order: dict[str, Any] = {
            "order_id": order_id,
            "user_id": user_id,
            "address": address,
            "items": items,
            "fulfillments": fulfillments,
            "status": status,
            "payment_history": payments,
        }
        if status == "cancelled":
            payments.append({"transaction_type": "refund", "amount": total, "payment_method_id": pm_id})
            order["cancel_reason"] = choice(CANCEL_REASONS)
        elif status == "pending (item modified)":
            # One item swapped for another variant of the same product; the difference is charged or refunded.
            it = items[randrange(len(items))]
            alternatives = [
                v for v in variants_of[it["product_id"]] if v["item_id"] not in taken and v["available"]
            ]
            if alternatives:
                new = alternatives[randrange(len(alternatives))]
                diff = _money(new["price"] - it["price"])
                it["item_id"], it["price"], it["options"] = new["item_id"], new["price"], dict(new["options"])
                payments.append(
                    {
                        "transaction_type": "payment" if diff >= 0 else "refund",
                        "amount": abs(diff),
                        "payment_method_id": pm_id,
                    }
                )
            else:
                order["status"] = "pending"
        elif status == "exchange requested":
            chosen = sorted(rng.sample(taken, randrange(1, len(taken) + 1)))
            by_id = {it["item_id"]: it for it in items}
            new_ids: list[str] = []
            diff = 0.0
            for item_id in chosen:
                old = by_id[item_id]
                alternatives = [
                    v for v in variants_of[old["product_id"]] if v["item_id"] != item_id and v["available"]
                ]
                if not alternatives:  # no other variant in stock: exchange for the same item
                    alternatives = [products[old["product_id"]]["variants"][item_id]]
                new = alternatives[randrange(len(alternatives))]
                new_ids.append(new["item_id"])
                diff += new["price"] - old["price"]
            order["exchange_items"] = chosen
            order["exchange_new_items"] = sorted(new_ids)
            order["exchange_payment_method_id"] = pm_id
            order["exchange_price_difference"] = _money(diff)
        elif status == "return requested":
            order["return_items"] = sorted(rng.sample(taken, randrange(1, len(taken) + 1)))
            gift = user_gift[u]
            order["return_payment_method_id"] = gift if gift is not None and random_() < 0.3 else pm_id
        table[order_id] = order
        user["orders"].append(order_id)
    return table


def write_tau_layout(tables: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``users.json``, ``orders.json`` and ``products.json`` (tau-bench layout) into ``out_dir``.

    Each file holds exactly ``json.dumps(table, indent=2)`` plus a final newline (ASCII, key order
    kept), so the same tables always give the same bytes. The text comes from :func:`dumps_indented`,
    a faster equivalent of ``json.dumps(..., indent=2)``. Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_NAMES:
        path = out_dir / f"{name}.json"
        with path.open("w", encoding="ascii", newline="\n") as f:
            for chunk in iter_dumps_indented(tables[name]):
                f.write(chunk)
            f.write("\n")
        written.append(path)
    return written


# -- fast indented JSON ------------------------------------------------------------------------------
# On Python < 3.14, ``json.dumps(indent=...)`` runs the pure-Python encoder (~3x slower than the C one).
# Most containers in these records hold only scalars (addresses, options, payments, id lists): those are
# encoded by the C encoder in one call, with the item separator carrying the newline and indentation.
_INDENT = 2
_NEWLINES: list[str] = []  # "\n" plus the indentation of each depth
_FLAT_ENCODERS: list[Any] = []  # per depth: encodes a scalar-only container, items separated by a newline


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _grow(depth: int) -> None:
    while len(_NEWLINES) <= depth:
        pad = "\n" + " " * (_INDENT * len(_NEWLINES))
        _NEWLINES.append(pad)
        if c_make_encoder is not None:
            c_encoder = c_make_encoder(
                None, _no_default, encode_basestring_ascii, None, ": ", "," + pad, False, False, True
            )
            _FLAT_ENCODERS.append(lambda value, _c=c_encoder: "".join(_c(value, 0)))
        else:  # pragma: no cover - CPython always has the C encoder
            _FLAT_ENCODERS.append(json.JSONEncoder(separators=("," + pad, ": ")).encode)


_grow(16)


def _render(value: Any, depth: int) -> str:
    """``value`` as ``json.dumps(value, indent=2)`` renders it when nested ``depth`` levels deep."""
    if depth + 2 > len(_NEWLINES):
        _grow(depth + 2)
    if isinstance(value, dict):
        if not value:
            return "{}"
        for x in value.values():
            if isinstance(x, (dict, list, tuple)):
                break
        else:  # only scalars: one C call gives '{"a": 1,<newline+indent>"b": 2}'
            return (
                "{" + _NEWLINES[depth + 1] + _FLAT_ENCODERS[depth + 1](value)[1:-1] + _NEWLINES[depth] + "}"
            )
        inner = _NEWLINES[depth + 1]
        scalar = _FLAT_ENCODERS[0]
        parts = []
        for k, x in value.items():
            t = type(x)
            if t is str:
                rendered = encode_basestring_ascii(x)
            elif t is dict or t is list or isinstance(x, (dict, list, tuple)):
                rendered = _render(x, depth + 1)
            else:
                rendered = scalar(x)
            parts.append((encode_basestring_ascii(k) if type(k) is str else _key(k)) + ": " + rendered)
        return "{" + inner + ("," + inner).join(parts) + _NEWLINES[depth] + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        for x in value:
            if isinstance(x, (dict, list, tuple)):
                break
        else:
            return (
                "[" + _NEWLINES[depth + 1] + _FLAT_ENCODERS[depth + 1](value)[1:-1] + _NEWLINES[depth] + "]"
            )
        inner = _NEWLINES[depth + 1]
        return (
            "[" + inner + ("," + inner).join([_render(x, depth + 1) for x in value]) + _NEWLINES[depth] + "]"
        )
    return _FLAT_ENCODERS[0](value)


def _key(key: Any) -> str:
    if type(key) is str:
        return encode_basestring_ascii(key)
    if (
        isinstance(key, (int, float, bool)) or key is None
    ):  # as json.dumps converts keys: 1 -> "1", True -> "true"
        return encode_basestring_ascii(json.dumps(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def iter_dumps_indented(value: Any) -> Any:
    """Chunks of ``json.dumps(value, indent=2)``, one per top-level entry of a dict (streams big tables)."""
    if not isinstance(value, dict) or not value:
        yield _render(value, 0)
        return
    inner = _NEWLINES[1]
    first = True
    for k, x in value.items():
        yield ("{" if first else ",") + inner + _key(k) + ": " + _render(x, 1)
        first = False
    yield "\n}"


def dumps_indented(value: Any) -> str:
    """Exactly ``json.dumps(value, indent=2)`` (ASCII, keys in order), about 3x faster on Python < 3.14."""
    return "".join(iter_dumps_indented(value))


__all__ = ["CATALOGUE", "dumps_indented", "generate_retail", "iter_dumps_indented", "write_tau_layout"]
