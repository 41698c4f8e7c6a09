"""A small hand-built airline database shared by the airline tests (four flights, one user, one reservation)."""

from __future__ import annotations


def _available(seats: tuple[int, int, int], prices: tuple[int, int, int]) -> dict:
    cabins = ("basic_economy", "economy", "business")
    return {
        "status": "available",
        "available_seats": dict(zip(cabins, seats, strict=True)),
        "prices": dict(zip(cabins, prices, strict=True)),
    }


def _flight(number: str, origin: str, destination: str, dep: str, arr: str, dates: dict) -> dict:
    return {
        "flight_number": number,
        "origin": origin,
        "destination": destination,
        "scheduled_departure_time_est": dep,
        "scheduled_arrival_time_est": arr,
        "dates": dates,
    }


def tiny_tables() -> dict:
    flights = {
        "HAT001": _flight(
            "HAT001",
            "JFK",
            "LAX",
            "08:00:00",
            "11:00:00",
            {
                "2024-05-14": {
                    "status": "landed",
                    "actual_departure_time_est": "2024-05-14T08:05:00",
                    "actual_arrival_time_est": "2024-05-14T11:01:00",
                },
                "2024-05-20": _available((5, 3, 2), (100, 200, 500)),
                "2024-05-21": {"status": "cancelled"},
            },
        ),
        "HAT002": _flight(
            "HAT002",
            "LAX",
            "SFO",
            "12:00:00",
            "13:30:00",
            {
                "2024-05-20": _available((5, 5, 5), (50, 120, 300)),
                "2024-05-21": _available((1, 1, 1), (60, 130, 310)),
            },
        ),
        "HAT003": _flight(
            "HAT003",
            "JFK",
            "LAX",
            "22:00:00",
            "01:00:00+1",
            {
                "2024-05-05": _available((9, 9, 9), (90, 190, 490)),
                "2024-05-20": _available((9, 9, 9), (95, 195, 495)),
            },
        ),
        "HAT004": _flight(
            "HAT004",
            "LAX",
            "SFO",
            "09:00:00",
            "10:00:00",
            {
                "2024-05-06": _available((2, 2, 2), (40, 80, 200)),
                "2024-05-20": _available((3, 3, 3), (45, 85, 205)),
                "2024-05-21": _available((4, 4, 4), (46, 86, 206)),
            },
        ),
    }
    users = {
        "ann_lee_1": {
            "name": {"first_name": "Ann", "last_name": "Lee"},
            "address": {
                "address1": "1 Main St",
                "address2": "Suite 2",
                "city": "Austin",
                "country": "USA",
                "state": "TX",
                "zip": "78701",
            },
            "email": "ann.lee@example.com",
            "dob": "1980-01-02",
            "payment_methods": {
                "credit_card_1": {
                    "source": "credit_card",
                    "brand": "visa",
                    "last_four": "1234",
                    "id": "credit_card_1",
                },
                "gift_card_1": {"source": "gift_card", "amount": 300, "id": "gift_card_1"},
                "certificate_1": {"source": "certificate", "amount": 150, "id": "certificate_1"},
            },
            "saved_passengers": [],
            "membership": "silver",
            "reservations": ["ABC123"],
        }
    }
    reservations = {
        "ABC123": {
            "reservation_id": "ABC123",
            "user_id": "ann_lee_1",
            "origin": "JFK",
            "destination": "LAX",
            "flight_type": "one_way",
            "cabin": "economy",
            "flights": [
                {
                    "origin": "JFK",
                    "destination": "LAX",
                    "flight_number": "HAT001",
                    "date": "2024-05-20",
                    "price": 180,
                }
            ],
            "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1980-01-02"}],
            "payment_history": [{"payment_id": "credit_card_1", "amount": 180}],
            "created_at": "2024-05-10T10:00:00",
            "total_baggages": 1,
            "nonfree_baggages": 0,
            "insurance": "no",
        }
    }
    return {"flights": flights, "reservations": reservations, "users": users}
