"""Numba CSV kernels: delimited flow records -> numeric matrices, string hashes and row hashes.

The kernels take raw byte buffers, small integer tables and preallocated output arrays and
return counts; every check that needs Python (which file, which column name) lives in the
wrapper in :mod:`ltcn_kernels.io.flows`. One pass over the bytes does everything: field
splitting, number / port / timestamp parsing, FNV-1a hashing of string fields (so strings are
decoded once per distinct value, not once per row) and a per-row hash used to drop exact
duplicates. Nothing here compiles at import; ``cache=True`` keeps the machine code on disk.

Why one file of ~560 lines: these are the Numba kernels of one pass (the field splitter calls
the number, port and time parsers inline), and Numba compiles and caches a module's kernels
together; splitting them would only add cross-module dispatch to the hot loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Column kinds (what the kernel does with a field).
KIND_SKIP = 0  # ignored, but still counted as a field (and optionally hashed for dedup)
KIND_NUMBER = 1  # float: decimal, exponent, Infinity/NaN text, empty -> NaN
KIND_PORT = 2  # like NUMBER, plus hexadecimal (0x0303) and a trailing ".0"; empty -> NaN
KIND_TIME = 3  # epoch seconds, ISO date-time or M/D/YYYY H:MM[:SS] [AM|PM] -> epoch seconds
KIND_STRING = 4  # FNV-1a hash + byte span of the (unquoted, stripped) text

# Where a parsed value goes.
DEST_NONE = 0
DEST_FEATURE = 1  # float32 feature matrix
DEST_AUX = 2  # float64 auxiliary matrix (time stamps, ports, ...)
DEST_STRING = 3  # uint64 hash + int64 span arrays

# Error codes (index into ERROR_MESSAGES).
ERR_NONE = 0
ERR_TOO_FEW = 1
ERR_TOO_MANY = 2
ERR_NUMBER = 3
ERR_TIME = 4
ERR_QUOTE = 5
ERROR_MESSAGES = (
    "ok",
    "too few fields",
    "too many fields",
    "not a number",
    "not a timestamp",
    "unterminated quote",
)

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)

_POW10 = np.array([float(f"1e{k}") for k in range(-340, 341)], dtype=np.float64)


@njit(cache=True, inline="always")
def _lower(c: int) -> int:
    if 65 <= c <= 90:
        return c + 32
    return c


@njit(cache=True)
def _match_word(buf, s, e, word) -> bool:
    """Case-insensitive comparison of buf[s:e] with an ASCII word given as uint8 array."""
    if e - s != word.shape[0]:
        return False
    for i in range(word.shape[0]):
        if _lower(buf[s + i]) != word[i]:
            return False
    return True


_INF = np.frombuffer(b"inf", dtype=np.uint8).copy()
_INFINITY = np.frombuffer(b"infinity", dtype=np.uint8).copy()
_NAN = np.frombuffer(b"nan", dtype=np.uint8).copy()


@njit(cache=True)
def parse_number(buf, s, e, allow_hex):
    """Parse buf[s:e] (already stripped of quotes/blanks) as a float.

    Returns (value, ok). Empty text is a missing value: (nan, True).
    """
    if s >= e:
        return np.nan, True
    sign = 1.0
    c = buf[s]
    if c == 45:  # '-'
        sign = -1.0
        s += 1
    elif c == 43:  # '+'
        s += 1
    if s >= e:
        return np.nan, False
    c = buf[s]
    if c > 57:  # a letter: Infinity / inf / NaN
        if _match_word(buf, s, e, _INF) or _match_word(buf, s, e, _INFINITY):
            return sign * np.inf, True
        if _match_word(buf, s, e, _NAN):
            return np.nan, True
        return np.nan, False
    if allow_hex and e - s > 2 and c == 48 and _lower(buf[s + 1]) == 120:  # 0x...
        v = 0.0
        for i in range(s + 2, e):
            d = _lower(buf[i])
            if 48 <= d <= 57:
                v = v * 16.0 + (d - 48)
            elif 97 <= d <= 102:
                v = v * 16.0 + (d - 87)
            else:
                return np.nan, False
        return sign * v, True
    mantissa = np.uint64(0)
    n_digits = 0  # significant digits kept in the mantissa
    exp10 = 0
    seen_digit = False
    seen_dot = False
    i = s
    while i < e:
        d = buf[i]
        if 48 <= d <= 57:
            seen_digit = True
            if n_digits < 19:
                if mantissa != 0 or d != 48:
                    n_digits += 1
                mantissa = mantissa * np.uint64(10) + np.uint64(d - 48)
                if seen_dot:
                    exp10 -= 1
            elif not seen_dot:
                exp10 += 1  # digits beyond the 19th only scale the value
        elif d == 46 and not seen_dot:  # '.'
            seen_dot = True
        else:
            break
        i += 1
    if not seen_digit:
        return np.nan, False
    if i < e:
        d = _lower(buf[i])
        if d != 101:  # 'e'
            return np.nan, False
        i += 1
        esign = 1
        if i < e and (buf[i] == 45 or buf[i] == 43):
            if buf[i] == 45:
                esign = -1
            i += 1
        if i >= e:
            return np.nan, False
        ev = 0
        while i < e:
            d = buf[i]
            if not (48 <= d <= 57):
                return np.nan, False
            if ev < 10000:
                ev = ev * 10 + (d - 48)
            i += 1
        exp10 += esign * ev
    v = float(mantissa)
    if v == 0.0:
        return sign * 0.0, True
    if exp10 < -340:
        return sign * 0.0, True
    if exp10 > 340:
        return sign * np.inf, True
    # Two steps keep 1e-320-ish products out of the subnormal range.
    if exp10 < -300:
        return sign * (v * _POW10[340 - 300]) * _POW10[exp10 + 300 + 340], True
    return sign * v * _POW10[exp10 + 340], True


@njit(cache=True, inline="always")
def _days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True)
def _read_int(buf, i, e):
    """Read an unsigned decimal integer at buf[i:]; returns (value, next index, n digits)."""
    v = 0
    n = 0
    while i < e and 48 <= buf[i] <= 57:
        v = v * 10 + (buf[i] - 48)
        i += 1
        n += 1
    return v, i, n


@njit(cache=True)
def parse_time(buf, s, e, pm_before_hour):
    """Parse a flow timestamp to epoch seconds (UTC, naive).

    Accepted: epoch seconds (``1526344121.188091``), ISO ``YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]``
    and CICIDS2017's ``M/D/YYYY H:MM[:SS] [AM|PM]``. CICIDS2017's afternoon files write a
    12-hour clock without AM/PM; with ``pm_before_hour`` > 0 an hour below it is read as PM
    (the capture ran during working hours, so 3:30 can only be 15:30).
    Returns (value, ok); empty text is (nan, True).
    """
    if s >= e:
        return np.nan, True
    # Epoch seconds: only digits, '.', sign, exponent.
    is_plain = True
    for i in range(s, e):
        c = buf[i]
        if c == 45 and i == s + 4:
            is_plain = False
            break
        if c == 47 or c == 58 or c == 32 or c == 84:  # '/', ':', ' ', 'T'
            is_plain = False
            break
    if is_plain:
        return parse_number(buf, s, e, False)
    a, i, na = _read_int(buf, s, e)
    if na == 0 or i >= e:
        return np.nan, False
    if buf[i] == 45:  # ISO: a is the year
        year = a
        month, i, n1 = _read_int(buf, i + 1, e)
        if n1 == 0 or i >= e or buf[i] != 45:
            return np.nan, False
        day, i, n2 = _read_int(buf, i + 1, e)
        if n2 == 0:
            return np.nan, False
        slash = False
    elif buf[i] == 47:  # M/D/YYYY
        month = a
        day, i, n1 = _read_int(buf, i + 1, e)
        if n1 == 0 or i >= e or buf[i] != 47:
            return np.nan, False
        year, i, n2 = _read_int(buf, i + 1, e)
        if n2 == 0:
            return np.nan, False
        if n2 == 2:
            year += 2000
        slash = True
    else:
        return np.nan, False
    if month < 1 or month > 12 or day < 1 or day > 31:
        return np.nan, False
    hour = 0
    minute = 0
    seconds = 0.0
    if i < e:
        if buf[i] != 32 and buf[i] != 84:
            return np.nan, False
        while i < e and (buf[i] == 32 or buf[i] == 84):
            i += 1
        hour, i, nh = _read_int(buf, i, e)
        if nh == 0 or i >= e or buf[i] != 58:
            return np.nan, False
        minute, i, nm = _read_int(buf, i + 1, e)
        if nm == 0:
            return np.nan, False
        if i < e and buf[i] == 58:
            j = i + 1
            while i + 1 < e and (48 <= buf[i + 1] <= 57 or buf[i + 1] == 46):
                i += 1
            seconds, ok = parse_number(buf, j, i + 1, False)
            if not ok or j > i:
                return np.nan, False
            i += 1
        while i < e and buf[i] == 32:
            i += 1
        if i < e:
            if e - i != 2 or _lower(buf[i + 1]) != 109:  # 'm'
                return np.nan, False
            ampm = _lower(buf[i])
            if ampm == 112 and hour < 12:  # 'p'
                hour += 12
            elif ampm == 97 and hour == 12:  # 'a'
                hour = 0
            elif ampm != 112 and ampm != 97:
                return np.nan, False
        elif slash and pm_before_hour > 0 and hour < pm_before_hour:
            hour += 12
    if hour > 23 or minute > 59:
        return np.nan, False
    days = _days_from_civil(year, month, day)
    return days * 86400.0 + hour * 3600.0 + minute * 60.0 + seconds, True


@njit(cache=True)
def count_lines(buf, n_bytes):
    """Number of newline bytes in buf[:n_bytes]."""
    n = 0
    for i in range(n_bytes):
        if buf[i] == 10:
            n += 1
    return n


@njit(cache=True, inline="always")
def _fast_decimal(buf, fs, n_bytes, delim):
    """Parse a plain ``[-]digits[.digits]`` field that ends at the delimiter or line end.

    Returns (value, end, ok); end is the delimiter's or newline's index. ``ok`` is False for
    anything else (exponent, text, blanks, quotes, > 15 digits), which the general parser
    then handles. With at most 15 digits the mantissa and the power of ten are exact, so the
    single division rounds correctly.
    """
    i = fs
    negative = False
    if i < n_bytes and buf[i] == 45:
        negative = True
        i += 1
    mantissa = 0
    digits = 0
    decimals = 0
    dot = False
    while i < n_bytes:
        c = buf[i]
        if 48 <= c <= 57:
            mantissa = mantissa * 10 + (c - 48)
            digits += 1
            if dot:
                decimals += 1
        elif c == 46 and not dot:
            dot = True
        else:
            break
        i += 1
    if digits == 0 or digits > 15:
        return 0.0, fs, False
    if i < n_bytes:
        c = buf[i]
        if c == 13:  # CRLF: the field ends at the CR, the line at the LF
            if i + 1 < n_bytes and buf[i + 1] != 10:
                return 0.0, fs, False
            i += 1
        elif c != delim and c != 10:
            return 0.0, fs, False
    value = mantissa / _POW10[340 + decimals]
    return (-value if negative else value), i, True


# Per-row flags written by parse_block.
FLAG_NAN = 1  # a feature is NaN or empty
FLAG_INF = 2  # a feature is +-Infinity


@njit(cache=True, nogil=True)
def parse_block(
    buf,
    n_bytes,
    delim,
    kinds,
    dests,
    slots,
    dedup,
    pm_before_hour,
    skip_bad,
    first_line,
    feat,
    aux,
    str_hash,
    str_span,
    line_no,
    row_hash,
    row_flags,
    row0,
    counts,
    err,
):
    """Parse complete lines of ``buf[:n_bytes]`` into preallocated outputs starting at ``row0``.

    One pass over the bytes: fields are split, parsed and written as they are met.

    Args:
        buf: uint8 bytes; must end on a line boundary (or be the file's final bytes).
        delim: delimiter byte (44 ',' or 9 TAB or 59 ';').
        kinds, dests, slots: int per column (KIND_*, DEST_*, index into the destination).
        dedup: 1 where the column takes part in the duplicate-row hash.
        pm_before_hour: see :func:`parse_time`.
        skip_bad: 0 stops at the first bad line and reports it in ``err``; 1 skips bad
            lines, counting them by error code in ``counts``.
        first_line: 1-based line number of buf[0] in the file.
        feat (n, F) f32, aux (n, A) f64, str_hash (n, S) u64, line_no (n,) i64,
        row_hash (n,) u64, row_flags (n,) u8: outputs, written from row ``row0``. The row
            hash combines the parsed values (not the bytes) of the ``dedup`` columns.
        str_span (m, S, 2) i64: byte spans of string fields in ``buf`` for this call's rows
            (row ``row0 + i`` at index i), so the caller decodes each distinct string once
            before the buffer is reused.
        counts: int64 array; [code] counts skipped lines by error code, [-1] counts negative
            feature values.
        err: int64[5] (code, line, 1-based column, byte offset of the field, first example
            line when skipping) -- filled when a line is bad.

    Returns:
        (rows written, lines consumed, bytes consumed). Stops early (without error) when the
        output is full, so the caller can grow it and call again at ``bytes consumed``.
    """
    n_cols = kinds.shape[0]
    row = row0
    cap = feat.shape[0]
    scratch = np.zeros(1, np.float64)
    scratch_bits = scratch.view(np.uint64)  # bit pattern of a parsed value, for the row hash
    negatives = 0
    p = 0
    line = first_line
    while p < n_bytes:
        c0 = buf[p]
        if c0 == 10 or c0 == 13 or c0 == 32 or c0 == 9:
            # Maybe a blank line (only whitespace): skip it.
            q = p
            while q < n_bytes and (buf[q] == 32 or buf[q] == 9 or buf[q] == 13):
                q += 1
            if q >= n_bytes or buf[q] == 10:
                p = q + 1
                line += 1
                continue
        if row >= cap:
            break
        code = ERR_NONE
        bad_col = 0
        bad_pos = 0
        h = _FNV_OFFSET
        flags = 0
        row_negatives = 0
        fs = p
        col = 0
        eol = False
        while True:
            kind = kinds[col] if col < n_cols else KIND_SKIP
            # Most fields are plain decimals: parse them while looking for the delimiter.
            have_value = False
            v = 0.0
            if kind == KIND_NUMBER or kind == KIND_PORT:
                v, fe, have_value = _fast_decimal(buf, fs, n_bytes, delim)
            if not have_value:
                # Field [fs, fe); a quoted field may contain the delimiter.
                fe = fs
                if fs < n_bytes and buf[fs] == 34:
                    fe = fs + 1
                    while fe < n_bytes and buf[fe] != 34 and buf[fe] != 10:
                        fe += 1
                    if fe >= n_bytes or buf[fe] == 10:
                        code = ERR_QUOTE
                        bad_col = col
                        bad_pos = fs - p
                        break
                    fe += 1
                while fe < n_bytes:
                    c = buf[fe]
                    if c == delim or c == 10:
                        break
                    fe += 1
            eol = fe >= n_bytes or buf[fe] == 10
            if col >= n_cols:
                code = ERR_TOO_MANY
                bad_col = col
                bad_pos = fs - p
                break
            if kind != KIND_SKIP and not have_value:
                # Strip a carriage return, blanks and one pair of quotes.
                s = fs
                e = fe
                if eol and e > s and buf[e - 1] == 13:
                    e -= 1
                while s < e and buf[s] == 32:
                    s += 1
                while e > s and buf[e - 1] == 32:
                    e -= 1
                if e - s >= 2 and buf[s] == 34 and buf[e - 1] == 34:
                    s += 1
                    e -= 1
            if kind == KIND_NUMBER or kind == KIND_PORT:
                if not have_value:
                    v, ok = parse_number(buf, s, e, kind == KIND_PORT)
                    if not ok:
                        code = ERR_NUMBER
                        bad_col = col
                        bad_pos = fs - p
                        break
                dest = dests[col]
                if dest == DEST_FEATURE:
                    feat[row, slots[col]] = v
                    if v != v:
                        flags |= FLAG_NAN
                    elif v == np.inf or v == -np.inf:
                        flags |= FLAG_INF
                    elif v < 0:
                        row_negatives += 1
                elif dest == DEST_AUX:
                    aux[row, slots[col]] = v
                if dedup[col]:
                    scratch[0] = v
                    h = (h ^ scratch_bits[0]) * _FNV_PRIME
            elif kind == KIND_TIME:
                v, ok = parse_time(buf, s, e, pm_before_hour)
                if not ok:
                    code = ERR_TIME
                    bad_col = col
                    bad_pos = fs - p
                    break
                aux[row, slots[col]] = v
            elif kind == KIND_STRING:
                sh = _FNV_OFFSET
                for i in range(s, e):
                    sh = (sh ^ np.uint64(buf[i])) * _FNV_PRIME
                k = slots[col]
                str_hash[row, k] = sh
                str_span[row - row0, k, 0] = s
                str_span[row - row0, k, 1] = e
                if dedup[col]:
                    h = (h ^ sh) * _FNV_PRIME
            col += 1
            if eol:
                break
            fs = fe + 1
        if code == ERR_NONE and col < n_cols:
            code = ERR_TOO_FEW
            bad_col = col
            bad_pos = fe - p
        # Next line starts after the newline (a bad line may stop mid-way: find it).
        q = fe
        if code != ERR_NONE:
            while q < n_bytes and buf[q] != 10:
                q += 1
        next_p = q + 1
        if code != ERR_NONE:
            if skip_bad == 0:
                err[0] = code
                err[1] = line
                err[2] = bad_col + 1
                err[3] = bad_pos
                counts[counts.shape[0] - 1] += negatives
                return row - row0, line - first_line, p
            counts[code] += 1
            if err[4] == 0:
                err[4] = line
        else:
            line_no[row] = line
            row_hash[row] = h
            row_flags[row] = flags
            negatives += row_negatives
            row += 1
        p = next_p
        line += 1
    counts[counts.shape[0] - 1] += negatives
    return row - row0, line - first_line, min(p, n_bytes)


@njit(cache=True)
def compact_rows(keep, feat, aux, str_hash, line_no, row_hash, row_flags):
    """Move the rows where ``keep`` is true to the front, in order, in place; returns how many."""
    k = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            if k != i:
                feat[k, :] = feat[i, :]
                aux[k, :] = aux[i, :]
                str_hash[k, :] = str_hash[i, :]
                line_no[k] = line_no[i]
                row_hash[k] = row_hash[i]
                row_flags[k] = row_flags[i]
            k += 1
    return k
