package org.srpy;

import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeParseException;

/** Helpers the native library calls (value conversion of the rarer types). */
final class Internal {
    private Internal() {
    }

    /** Python's {@code datetime.isoformat()} text: aware → OffsetDateTime, naive → LocalDateTime. */
    static Object parseDateTime(String text) {
        try {
            int t = firstSeparator(text);
            String rest = t < 0 ? "" : text.substring(t);
            boolean aware = text.endsWith("Z") || text.endsWith("z") || rest.indexOf('+') >= 0 || rest.indexOf('-') >= 0;
            String norm = t < 0 ? text : text.substring(0, t) + "T" + text.substring(t + 1);
            return aware ? OffsetDateTime.parse(norm) : LocalDateTime.parse(norm);
        } catch (DateTimeParseException e) {
            throw new ProtocolException("cannot read the datetime '" + text + "': " + e.getMessage(), e);
        }
    }

    static LocalDate parseDate(String text) {
        try {
            return LocalDate.parse(text);
        } catch (DateTimeParseException e) {
            throw new ProtocolException("cannot read the date '" + text + "': " + e.getMessage(), e);
        }
    }

    private static int firstSeparator(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == 'T' || c == 't' || c == ' ') {
                return i;
            }
        }
        return -1;
    }

    /**
     * The text Python's {@code isoformat()} writes for a LocalDateTime,
     * OffsetDateTime or ZonedDateTime (sub-microsecond digits are dropped:
     * Python datetimes hold microseconds).
     */
    static String isoDateTime(Object value) {
        LocalDateTime local;
        ZoneOffset offset = null;
        if (value instanceof LocalDateTime) {
            local = (LocalDateTime) value;
        } else if (value instanceof OffsetDateTime) {
            local = ((OffsetDateTime) value).toLocalDateTime();
            offset = ((OffsetDateTime) value).getOffset();
        } else if (value instanceof ZonedDateTime) {
            local = ((ZonedDateTime) value).toLocalDateTime();
            offset = ((ZonedDateTime) value).getOffset();
        } else {
            throw new IllegalArgumentException("not a date-time: " + value.getClass().getName());
        }
        StringBuilder sb = new StringBuilder(32);
        sb.append(isoDate(local.toLocalDate())).append('T');
        LocalTime t = local.toLocalTime();
        two(sb, t.getHour()).append(':');
        two(sb, t.getMinute()).append(':');
        two(sb, t.getSecond());
        int micros = t.getNano() / 1000;
        if (micros != 0) {
            String m = Integer.toString(micros);
            sb.append('.');
            for (int i = m.length(); i < 6; i++) {
                sb.append('0');
            }
            sb.append(m);
        }
        if (offset != null) {
            int secs = offset.getTotalSeconds();
            sb.append(secs < 0 ? '-' : '+');
            secs = Math.abs(secs);
            two(sb, secs / 3600).append(':');
            two(sb, (secs / 60) % 60);
            if (secs % 60 != 0) {
                two(sb.append(':'), secs % 60);
            }
        }
        return sb.toString();
    }

    static String isoDate(LocalDate d) {
        int y = d.getYear();
        if (y < 1 || y > 9999) {
            throw new IllegalArgumentException("year " + y + " is out of Python's range 1..9999");
        }
        StringBuilder sb = new StringBuilder(10);
        String ys = Integer.toString(y);
        for (int i = ys.length(); i < 4; i++) {
            sb.append('0');
        }
        sb.append(ys).append('-');
        two(sb, d.getMonthValue()).append('-');
        two(sb, d.getDayOfMonth());
        return sb.toString();
    }

    private static StringBuilder two(StringBuilder sb, int v) {
        if (v < 10) {
            sb.append('0');
        }
        return sb.append(v);
    }

    static NDArray ndarray(String dtype, long[] shape, boolean fortran, Object data) {
        return new NDArray(dtype, shape, fortran, data);
    }

    static Tuple tuple(Object[] items) {
        return Tuple.wrap(items);
    }
}
