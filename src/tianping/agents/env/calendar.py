"""A room-booking calendar: rooms with capacities, bookings by date and time, and a fixed "today".

Everything is in memory and deterministic: booking ids count up from the seed's, and "today" is the seed's date,
never the machine's, so the same calls give the same answers in every process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from tianping.agents.env.base import CheckResult, Environment, SpecError, ToolError, short, tool

OPEN, CLOSE = "07:00", "22:00"
"""Bookings lie within these hours."""
MAX_BOOKINGS = 500
DEFAULT_TODAY = "2025-01-06"
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

_DATE = {"type": "string", "maxLength": 10, "description": "YYYY-MM-DD"}
_CLOCK = {"type": "string", "maxLength": 5, "description": "HH:MM (24-hour)"}
_ROOM = {"type": "string", "maxLength": 64}
_ID = {"type": "string", "maxLength": 16}

TOOLS = (
    tool("list_rooms", "List the rooms with their capacities."),
    tool("list_bookings", "List the bookings of a day, optionally of one room.", {"date": _DATE, "room": _ROOM},
         ["date"]),
    tool("find_free_slots", f"Free time of each room (or one room) on a day between {OPEN} and {CLOSE}, as "
         "ranges at least the given number of minutes long.",
         {"date": _DATE, "minutes": {"type": "integer", "minimum": 5, "maximum": 900}, "room": _ROOM},
         ["date", "minutes"]),
    tool("book", "Book a room. Refused when it overlaps another booking of the room, when there are more "
         "attendees than seats, or when the day is past.",
         {"title": {"type": "string", "maxLength": 200}, "date": _DATE, "start": _CLOCK, "end": _CLOCK,
          "room": _ROOM, "attendees": {"type": "array", "items": {"type": "string", "maxLength": 100},
                                       "maxItems": 100}},
         ["title", "date", "start", "end", "room"]),
    tool("cancel", "Cancel a booking by its id.", {"booking_id": _ID}, ["booking_id"]),
    tool("move_booking", "Move a booking to another time (and optionally another day or room).",
         {"booking_id": _ID, "date": _DATE, "start": _CLOCK, "end": _CLOCK, "room": _ROOM},
         ["booking_id", "start", "end"]),
)  # fmt: skip


@dataclass(frozen=True)
class Booking:
    id: str
    title: str
    date: str
    start: str
    end: str
    room: str
    attendees: tuple[str, ...] = field(default=())

    def line(self) -> str:
        who = f" | attendees: {', '.join(self.attendees)}" if self.attendees else ""
        return f"{self.id} | {self.date} {self.start}-{self.end} | {self.room} | {self.title}{who}"


class CalendarEnv(Environment):
    """Seed: ``{"today": "2025-03-10", "rooms": {"Aurora": 4, ...}, "bookings": [{id?, title, date, start, end,
    room, attendees?}, ...]}``. Checks: ``{booking: {id?, title?, date?, start?, end?, room?, attendees?},
    count: 1}`` -- how many bookings match (the title by case-insensitive containment, attendees as a subset)."""

    name = "calendar"
    TOOLS = TOOLS
    CHECK_KEYS = frozenset({"booking"})

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        super().__init__(seed)
        seed = seed or {}
        self.validate_seed(seed)
        self.today = seed.get("today", DEFAULT_TODAY)
        self.rooms: dict[str, int] = dict(seed.get("rooms") or {"Main": 8})
        self.bookings: dict[str, Booking] = {}
        self._next = 1
        for i, raw in enumerate(seed.get("bookings") or ()):
            ident = str(raw.get("id") or f"B{i + 1}")
            self.bookings[ident] = Booking(ident, raw["title"], raw["date"], raw["start"], raw["end"], raw["room"],
                                           tuple(raw.get("attendees") or ()))  # fmt: skip
            if ident[1:].isdigit():
                self._next = max(self._next, int(ident[1:]) + 1)

    @classmethod
    def validate_seed(cls, seed: Mapping[str, Any]) -> None:
        unknown = set(seed) - {"today", "rooms", "bookings"}
        if unknown:
            raise SpecError("seed", f"unknown keys {sorted(unknown)} (a calendar seed has today, rooms, bookings)")
        try:
            _day(seed.get("today", DEFAULT_TODAY))
        except ToolError as exc:
            raise SpecError("seed.today", str(exc)) from None
        rooms = seed.get("rooms") or {"Main": 8}
        if not isinstance(rooms, Mapping) or not all(isinstance(c, int) and c > 0 for c in rooms.values()):
            raise SpecError("seed.rooms", "must map room names to capacities (positive integers)")
        for i, raw in enumerate(seed.get("bookings") or ()):
            where = f"seed.bookings[{i}]"
            missing = {"title", "date", "start", "end", "room"} - set(raw)
            if missing:
                raise SpecError(where, f"lacks {sorted(missing)}")
            if raw["room"] not in rooms:
                raise SpecError(where, f"room {raw['room']!r} is not among the rooms")
            try:
                _day(raw["date"])
                _span(raw["start"], raw["end"])
            except ToolError as exc:
                raise SpecError(where, str(exc)) from None

    @classmethod
    def validate_check(cls, check: Mapping[str, Any]) -> None:
        super().validate_check(check)
        unknown = set(check) - {"booking", "count"}
        match = check["booking"]
        if unknown or not isinstance(match, Mapping):
            raise SpecError("checks", f"a booking check takes booking (a mapping) and count, got {sorted(check)}")
        extra = set(match) - {"id", "title", "date", "start", "end", "room", "attendees"}
        if extra:
            raise SpecError(
                "checks", f"a booking match takes id, title, date, start, end, room, attendees; got {sorted(extra)}"
            )

    @classmethod
    def context(cls, seed: Mapping[str, Any], language: str) -> str:
        today = seed.get("today", DEFAULT_TODAY)
        day = _day(today)
        if language == "zh":
            return f"今天是 {today}（{_WEEKDAYS_ZH[day.weekday()]}）。会议室可预订时间为 {OPEN} 至 {CLOSE}。"
        return f"Today is {today} ({_WEEKDAYS_EN[day.weekday()]}). Rooms can be booked from {OPEN} to {CLOSE}."

    def _room(self, room: str) -> str:
        if room not in self.rooms:
            raise ToolError(f"no room named {room!r} (rooms: {', '.join(self.rooms)})")
        return room

    def _of_day(self, day: str, room: str | None = None) -> list[Booking]:
        found = [b for b in self.bookings.values() if b.date == day and (room is None or b.room == room)]
        return sorted(found, key=lambda b: (b.start, b.room, b.id))

    def _clash(self, candidate: Booking) -> Booking | None:
        for other in self._of_day(candidate.date, candidate.room):
            if other.id != candidate.id and other.start < candidate.end and candidate.start < other.end:
                return other
        return None

    def _accept(self, booking: Booking) -> None:
        if _day(booking.date) < _day(self.today):
            raise ToolError(f"{booking.date} is in the past (today is {self.today})")
        _span(booking.start, booking.end)
        capacity = self.rooms[self._room(booking.room)]
        if len(booking.attendees) > capacity:
            raise ToolError(f"{booking.room} seats {capacity}, not {len(booking.attendees)}")
        clash = self._clash(booking)
        if clash is not None:
            raise ToolError(
                f"{booking.room} is taken {clash.start}-{clash.end} on {booking.date} ({clash.id}: {clash.title})"
            )

    # tools ---------------------------------------------------------------------------------------------------

    def tool_list_rooms(self) -> str:
        return "\n".join(f"{name} (seats {capacity})" for name, capacity in self.rooms.items())

    def tool_list_bookings(self, date: str, room: str | None = None) -> str:
        _day(date)
        found = self._of_day(date, self._room(room) if room is not None else None)
        return (
            "\n".join(b.line() for b in found) if found else f"no bookings on {date}" + (f" in {room}" if room else "")
        )

    def tool_find_free_slots(self, date: str, minutes: int, room: str | None = None) -> str:
        _day(date)
        rooms = [self._room(room)] if room is not None else list(self.rooms)
        lines = []
        for name in rooms:
            free, cursor = [], _minutes(OPEN)
            for b in self._of_day(date, name):
                if _minutes(b.start) - cursor >= minutes:
                    free.append((cursor, _minutes(b.start)))
                cursor = max(cursor, _minutes(b.end))
            if _minutes(CLOSE) - cursor >= minutes:
                free.append((cursor, _minutes(CLOSE)))
            shown = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b in free) or "no free time that long"
            lines.append(f"{name}: {shown}")
        return "\n".join(lines)

    def tool_book(
        self, title: str, date: str, start: str, end: str, room: str, attendees: list[str] | None = None
    ) -> str:
        if len(self.bookings) >= MAX_BOOKINGS:
            raise ToolError(f"the calendar holds {MAX_BOOKINGS} bookings at most")
        if not title.strip():
            raise ToolError("a booking needs a title")
        _day(date)
        booking = Booking(f"B{self._next}", title.strip(), date, start, end, room, tuple(attendees or ()))
        self._accept(booking)
        self.bookings[booking.id] = booking
        self._next += 1
        return "booked " + booking.line()

    def tool_cancel(self, booking_id: str) -> str:
        booking = self.bookings.pop(booking_id, None)
        if booking is None:
            raise ToolError(f"no booking {booking_id!r}")
        return "cancelled " + booking.line()

    def tool_move_booking(
        self, booking_id: str, start: str, end: str, date: str | None = None, room: str | None = None
    ) -> str:
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise ToolError(f"no booking {booking_id!r}")
        if date is not None:
            _day(date)
        moved = replace(booking, start=start, end=end, date=date or booking.date, room=room or booking.room)
        self._accept(moved)
        self.bookings[booking_id] = moved
        return "moved " + moved.line()

    # checks --------------------------------------------------------------------------------------------------

    def check(self, check: Mapping[str, Any]) -> CheckResult:
        match: Mapping[str, Any] = check["booking"]
        wanted = int(check.get("count", 1))
        found = [b for b in self.bookings.values() if _matches(b, match)]
        words = f"{wanted} booking{'s' if wanted != 1 else ''} match {short(dict(match), 160)}"
        if len(found) == wanted:
            return CheckResult(words, True)
        detail = f"{len(found)} match" + (": " + "; ".join(b.line() for b in found[:3]) if found else "")
        return CheckResult(words, False, detail)


def _matches(booking: Booking, match: Mapping[str, Any]) -> bool:
    for key, value in match.items():
        if key == "title":
            if str(value).casefold() not in booking.title.casefold():
                return False
        elif key == "attendees":
            if not {str(v).casefold() for v in value} <= {a.casefold() for a in booking.attendees}:
                return False
        elif getattr(booking, key) != value:
            return False
    return True


def _day(text: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ToolError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _minutes(clock: str) -> int:
    found = _TIME.match(clock)
    if not found:
        raise ToolError(f"{clock!r} is not a time written HH:MM (24-hour)")
    return int(found.group(1)) * 60 + int(found.group(2))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(start: str, end: str) -> None:
    a, b = _minutes(start), _minutes(end)
    if a >= b:
        raise ToolError(f"the end {end} is not after the start {start}")
    if a < _minutes(OPEN) or b > _minutes(CLOSE):
        raise ToolError(f"bookings lie between {OPEN} and {CLOSE}")
