package org.srpy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every value type of docs/PROTOCOL.md's value table, both ways, against a real engine. */
class ValuesTest {
    static PythonEngine eng;

    @BeforeAll
    static void connect() {
        eng = TestServer.engine(0);
    }

    @AfterAll
    static void close() {
        eng.close();
    }

    /** Sends {@code v}, checks the Python type name, answers what comes back. */
    private static Object roundTrip(Object v, String pyType) {
        eng.set("v", v);
        assertEquals(pyType, eng.eval("type(v).__name__"), "Python type of " + v);
        return eng.get("v");
    }

    @Test
    void nullAndBooleans() {
        assertNull(roundTrip(null, "NoneType"));
        assertEquals(Boolean.TRUE, roundTrip(true, "bool"));
        assertEquals(Boolean.FALSE, roundTrip(false, "bool"));
        assertNull(eng.eval("None"));
    }

    @Test
    void integersComeBackAsLong() {
        assertEquals(42L, roundTrip(42L, "int"));
        assertEquals(42L, roundTrip(42, "int"));
        assertEquals(-7L, roundTrip((short) -7, "int"));
        assertEquals(-128L, roundTrip((byte) -128, "int"));
        assertEquals(Long.MAX_VALUE, roundTrip(Long.MAX_VALUE, "int"));
        assertEquals(Long.MIN_VALUE, roundTrip(Long.MIN_VALUE, "int"));
        assertEquals(true, eng.eval("v == -2**63"));
        assertEquals(2L, eng.eval("1+1"));
    }

    @Test
    void bigIntegers() {
        BigInteger big = BigInteger.TWO.pow(100);
        assertEquals(big, roundTrip(big, "int"));
        assertEquals(true, eng.eval("v == 2**100"));
        assertEquals(big.negate().subtract(BigInteger.ONE), roundTrip(big.negate().subtract(BigInteger.ONE), "int"));
        assertEquals(BigInteger.valueOf(7).pow(200), eng.eval("7**200"));
        // inside i64 a BigInteger comes back as a Long
        assertEquals(5L, roundTrip(BigInteger.valueOf(5), "int"));
        assertEquals(new BigInteger("18446744073709551615"), eng.eval("2**64-1"));
    }

    @Test
    void floatsKeepNanInfinitiesAndNegativeZero() {
        assertEquals(1.5, roundTrip(1.5, "float"));
        assertEquals(1.5, roundTrip(1.5f, "float"));
        assertTrue(Double.isNaN((Double) roundTrip(Double.NaN, "float")));
        assertEquals(true, eng.eval("v != v"));
        assertEquals(Double.POSITIVE_INFINITY, roundTrip(Double.POSITIVE_INFINITY, "float"));
        assertEquals(Double.NEGATIVE_INFINITY, roundTrip(Double.NEGATIVE_INFINITY, "float"));
        Object negZero = roundTrip(-0.0, "float");
        assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits((Double) negZero));
        assertEquals("-0.0", eng.eval("repr(v)"));
        assertEquals(Double.MIN_VALUE, roundTrip(Double.MIN_VALUE, "float"));
    }

    @Test
    void strings() {
        assertEquals("", roundTrip("", "str"));
        assertEquals("héllo wörld", roundTrip("héllo wörld", "str"));
        String nonBmp = "a\uD83D\uDE00b"; // 😀
        assertEquals(nonBmp, roundTrip(nonBmp, "str"));
        assertEquals(3L, eng.eval("len(v)"));
        assertEquals("a\0b", roundTrip("a\0b", "str"));
        assertEquals("x", roundTrip('x', "str"));
        String big = "ab".repeat(500_000);
        assertEquals(big, roundTrip(big, "str"));
        assertThrows(IllegalArgumentException.class, () -> eng.set("bad", "\uD800"));
    }

    @Test
    void bytes() {
        byte[] all = new byte[256];
        for (int i = 0; i < 256; i++) {
            all[i] = (byte) i;
        }
        assertArrayEquals(all, (byte[]) roundTrip(all, "bytes"));
        assertEquals(true, eng.eval("v == bytes(range(256))"));
        assertArrayEquals(new byte[0], (byte[]) roundTrip(new byte[0], "bytes"));
        assertArrayEquals(new byte[] {1, 2}, (byte[]) eng.eval("bytearray(b'\\x01\\x02')"));
    }

    @Test
    void listsAndTuples() {
        List<Object> l = Arrays.asList(1L, "a", null, 2.5);
        Object back = roundTrip(l, "list");
        assertInstanceOf(ArrayList.class, back);
        assertEquals(l, back);
        assertEquals(l, roundTrip(new LinkedList<>(l), "list"));
        assertEquals(l, roundTrip(new Object[] {1L, "a", null, 2.5}, "list"));
        assertEquals(List.of(), roundTrip(List.of(), "list"));

        Tuple t = Tuple.of(1L, Tuple.of("x"), List.of(2L));
        Object tb = roundTrip(t, "tuple");
        assertInstanceOf(Tuple.class, tb);
        assertEquals(t, tb);
        assertInstanceOf(Tuple.class, ((Tuple) tb).get(1));
        assertEquals("(1, ('x',), [2])", eng.eval("repr(v)"));
        assertEquals(Tuple.EMPTY, eng.eval("()"));
        assertThrows(UnsupportedOperationException.class, () -> t.add(3));
    }

    @Test
    void mapsWithAnyKeysKeepOrder() {
        Map<Object, Object> m = new LinkedHashMap<>();
        m.put("b", 1L);
        m.put(1L, "int key");
        m.put(Tuple.of(1L, 2L), "tuple key");
        m.put(null, "none key");
        m.put(2.5, List.of(1L));
        Object back = roundTrip(m, "dict");
        assertInstanceOf(LinkedHashMap.class, back);
        assertEquals(m, back);
        assertEquals(new ArrayList<>(m.keySet()), new ArrayList<>(((Map<?, ?>) back).keySet()));
        assertEquals("tuple key", eng.eval("v[(1, 2)]"));
        Map<?, ?> fromPy = (Map<?, ?>) eng.eval("{'z': 1, 'a': 2, 'm': 3}");
        assertEquals(List.of("z", "a", "m"), new ArrayList<>(fromPy.keySet()));
        assertEquals(Map.of("a", 1L), roundTrip(new TreeMap<>(Map.of("a", 1)), "dict"));
    }

    @Test
    void sets() {
        Set<Object> s = new LinkedHashSet<>(List.of(3L, "x", Tuple.of(1L)));
        Object back = roundTrip(s, "set");
        assertInstanceOf(LinkedHashSet.class, back);
        assertEquals(s, back);
        assertEquals(Set.of(1L, 2L), eng.eval("frozenset({1, 2})"));
    }

    @Test
    void complexNumbers() {
        Complex c = new Complex(1.5, -2.0);
        assertEquals(c, roundTrip(c, "complex"));
        assertEquals("(1.5-2j)", eng.eval("repr(v)"));
        assertEquals(new Complex(0, 1), eng.eval("1j"));
    }

    @Test
    void datesAndTimes() {
        LocalDateTime naive = LocalDateTime.of(2024, 1, 2, 3, 4, 5, 123_456_000);
        assertEquals(naive, roundTrip(naive, "datetime"));
        assertEquals("2024-01-02T03:04:05.123456", eng.eval("v.isoformat()"));
        assertEquals(true, eng.eval("v.tzinfo is None"));
        LocalDateTime whole = LocalDateTime.of(2024, 1, 2, 3, 4);
        assertEquals(whole, roundTrip(whole, "datetime"));

        OffsetDateTime aware = OffsetDateTime.of(2024, 1, 2, 3, 4, 5, 0, ZoneOffset.ofHoursMinutes(5, 30));
        assertEquals(aware, roundTrip(aware, "datetime"));
        assertEquals("2024-01-02T03:04:05+05:30", eng.eval("v.isoformat()"));
        OffsetDateTime utc = OffsetDateTime.of(2024, 6, 1, 0, 0, 0, 0, ZoneOffset.UTC);
        assertEquals(utc, roundTrip(utc, "datetime"));

        ZonedDateTime zoned = ZonedDateTime.of(2024, 7, 1, 12, 0, 0, 0, ZoneId.of("Europe/Lisbon"));
        assertEquals(zoned.toOffsetDateTime(), roundTrip(zoned, "datetime"));

        LocalDate d = LocalDate.of(1999, 12, 31);
        assertEquals(d, roundTrip(d, "date"));
        assertEquals(LocalDate.of(2024, 2, 29), eng.eval("__import__('datetime').date(2024, 2, 29)"));
        assertEquals(OffsetDateTime.of(2020, 1, 1, 0, 0, 0, 0, ZoneOffset.ofHours(-3)),
                eng.eval("__import__('datetime').datetime(2020, 1, 1, tzinfo=__import__('datetime').timezone(__import__('datetime').timedelta(hours=-3)))"));
    }

    @Test
    void decimals() {
        BigDecimal d = new BigDecimal("1.50");
        assertEquals(d, roundTrip(d, "Decimal"));
        assertEquals("Decimal('1.50')", eng.eval("repr(v)"));
        BigDecimal e = new BigDecimal("-1234567890123456789012345.6789E+10");
        assertEquals(e, roundTrip(e, "Decimal"));
        assertEquals(new BigDecimal("1E+3"), eng.eval("__import__('decimal').Decimal('1E+3')"));
    }

    private static void assumeNumpy() {
        assumeTrue(Boolean.TRUE.equals(eng.eval("__import__('importlib.util').util.find_spec('numpy') is not None")),
                "numpy is not installed for the engines");
    }

    @Test
    void ndarrays() {
        assumeNumpy();
        NDArray a = new NDArray("float64", new long[] {2, 3}, false, new double[] {1, 2, 3, 4, 5, 6});
        assertEquals(a, roundTrip(a, "ndarray"));
        assertEquals("[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]", eng.eval("str(v.tolist())"));
        NDArray f = new NDArray("float64", new long[] {2, 3}, true, new double[] {1, 4, 2, 5, 3, 6});
        eng.set("f", f);
        assertEquals(true, eng.eval("bool((f == v).all()) and f.flags.f_contiguous"));
        assertEquals(f, eng.get("f"));

        Object[][] cases = {
            {"int32", new int[] {1, -2, 3}}, {"int64", new long[] {Long.MIN_VALUE, 0, 5}},
            {"float32", new float[] {1.5f, -0f, Float.NaN}}, {"int16", new short[] {-1, 2, 3}},
            {"int8", new byte[] {-1, 2, 3}}, {"uint8", new byte[] {(byte) 255, 0, 1}},
            {"uint16", new short[] {(short) 65535, 0, 1}}, {"uint32", new int[] {-1, 0, 1}},
            {"uint64", new long[] {-1L, 0, 1}}, {"float16", new short[] {0x3C00, 0, (short) 0xC000}},
            {"bool", new boolean[] {true, false, true}},
        };
        for (Object[] c : cases) {
            NDArray x = new NDArray((String) c[0], new long[] {3}, false, c[1]);
            assertEquals(x, roundTrip(x, "ndarray"), (String) c[0]);
            assertEquals(c[0], eng.eval("str(v.dtype)"));
        }
        assertEquals(255L, eng.eval("int(__import__('numpy').array([255, 0, 1], dtype='uint8')[0])"));
        NDArray zeroD = (NDArray) eng.eval("__import__('numpy').array(2.5)");
        assertEquals(0, zeroD.getNdim());
        assertEquals(2.5, zeroD.doubles()[0]);
        // plain primitive arrays travel as 1-d arrays
        assertEquals(NDArray.of(new double[] {1, 2}), roundTrip(new double[] {1, 2}, "ndarray"));
        assertEquals(NDArray.of(new int[] {7}), roundTrip(new int[] {7}, "ndarray"));
        NDArray big = (NDArray) eng.eval("__import__('numpy').arange(1_000_000, dtype='int64').reshape(1000, 1000)");
        assertArrayEquals(new long[] {1000, 1000}, big.getShape());
        assertEquals(999_999L, big.longs()[999_999]);
        assertThrows(IllegalArgumentException.class, () -> new NDArray("float64", new long[] {2}, false, new int[2]));
        assertThrows(IllegalArgumentException.class, () -> new NDArray("float64", new long[] {3}, false, new double[2]));
    }

    @Test
    void nestedValues() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("list", List.of(1L, List.of(2L, Tuple.of(3L, Set.of("s")))));
        m.put("bytes", new byte[] {1});
        Object back = roundTrip(m, "dict");
        Map<?, ?> b = (Map<?, ?>) back;
        assertEquals(m.get("list"), b.get("list"));
        assertArrayEquals(new byte[] {1}, (byte[]) b.get("bytes"));
        // 50 levels deep is fine (the engine stops at 100 on its way back)
        Object deep = 0L;
        for (int i = 0; i < 50; i++) {
            deep = List.of(deep);
        }
        assertEquals(deep, roundTrip(deep, "list"));
    }

    @Test
    void unmappedJavaValuesNameTheirClass() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> eng.set("x", new Object()));
        assertTrue(e.getMessage().contains("java.lang.Object"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> eng.set("x", List.of(1, new StringBuilder("s"))));
        assertTrue(e.getMessage().contains("java.lang.StringBuilder"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> eng.call("len", Thread.currentThread()));
        assertTrue(e.getMessage().contains("java.lang.Thread"), e.getMessage());
        // Too deep (PROTOCOL.md 6.3: 254 levels for a value) is not transferable,
        // as in every client.
        List<Object> cyclic = new ArrayList<>();
        cyclic.add(cyclic);
        NotTransferableException nt = assertThrows(NotTransferableException.class, () -> eng.set("x", cyclic));
        assertTrue(nt.getMessage().contains("deeper than 254 levels"), nt.getMessage());
        Map<Object, Object> badVars = new LinkedHashMap<>();
        badVars.put(1, 2);
        @SuppressWarnings({"unchecked", "rawtypes"})
        Map<String, ?> raw = (Map) badVars;
        assertThrows(IllegalArgumentException.class, () -> eng.set(raw));
        // the engine is still fine
        assertEquals("pong", eng.ping());
    }

    @Test
    void remoteValuesWithoutWireFormAreNotTransferable() {
        NotTransferableException e = assertThrows(NotTransferableException.class, () -> eng.eval("__import__('os')"));
        assertTrue(e.getMessage().contains("module"), e.getMessage());
        assertThrows(NotTransferableException.class, () -> eng.eval("object()"));
    }
}
