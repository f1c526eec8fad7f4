"""The room's URL as a QR code in text: two modules per character cell (half blocks), so a phone can
scan it from the terminal or the TUI. Drawn dark on light whatever the terminal's colours (scanners
want that): ``qr_lines`` gives the characters, to be shown black on white; ``qr_ansi`` adds the colours
for a plain terminal."""

from __future__ import annotations

from live.errors import LiveError

# (top dark, bottom dark) → the character drawn black on white
_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_matrix(text: str, border: int = 2) -> list[list[bool]]:
    """The modules (True: dark), with a quiet zone of ``border`` modules."""
    try:
        import segno
    except ImportError as exc:
        raise LiveError("the QR code needs segno: pip install segno") from exc
    code = segno.make(text, error="m", micro=False)
    size = len(code.matrix) + 2 * border
    blank = [False] * size
    rows = [list(blank) for _ in range(border)]
    rows += [[False] * border + [bool(m) for m in row] + [False] * border for row in code.matrix]
    rows += [list(blank) for _ in range(border)]
    return rows


def qr_lines(text: str, border: int = 2) -> list[str]:
    """The QR code as lines of half blocks, to be drawn black on white."""
    rows = qr_matrix(text, border)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    return ["".join(_CELLS[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1])) for i in range(0, len(rows), 2)]


def qr_ansi(text: str, border: int = 2) -> str:
    """The QR code for a terminal: black on white with ANSI colours, one line per two module rows."""
    return "\n".join(f"\x1b[30;107m{line}\x1b[0m" for line in qr_lines(text, border))


def qr_svg(text: str) -> bytes:
    """The QR code as an SVG image (the page's "share this room")."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="svg", scale=8, border=2, dark="#000", light="#fff")
    return out.getvalue()
