package org.srpy.conformance;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import org.srpy.Benchmark;
import org.srpy.Complex;
import org.srpy.ConnectOptions;
import org.srpy.NDArray;
import org.srpy.PythonEngine;
import org.srpy.Tuple;

/**
 * Conformance driver of the Java client ({@code org.srpy}).
 *
 * <pre>
 * java -cp srpy.jar:classes org.srpy.conformance.JavaDriver --uri URI --token TOKEN --cases DIR [--case PATTERN]
 *     [--tls-uri URI --tls-dir DIR --tls-pin PIN]
 * </pre>
 *
 * Prints one JSON line per case: {@code {"case", "status", "detail"}}. Step
 * semantics: conformance/README.md; values: the notation of
 * conformance/vectors/README.md, mapped as docs say the Java client maps
 * Python values (Long/BigInteger, Double, String, byte[], ArrayList, Tuple,
 * LinkedHashMap, LinkedHashSet, Complex, OffsetDateTime/LocalDateTime,
 * LocalDate, BigDecimal, NDArray).
 */
public final class JavaDriver {
    static final String CLIENT = "java";
    static final String SUPPORT = "srpy_conformance";

    /** The step did not do what the case says. */
    static final class Fail extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Fail(String m) {
            super(m);
        }
    }

    /** The client cannot express the case or lacks the feature. */
    static final class NotApplicable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NotApplicable(String m) {
            super(m);
        }
    }

    private final String uri;
    private final String token;
    private final String supportSource;
    private final Map<Integer, PythonEngine> engines = new TreeMap<>();
    private Object box;
    /** The runner's TLS server ({@code --tls-uri}, {@code --tls-dir}, {@code --tls-pin}), or nulls. */
    private String tlsUri;
    private Path tlsDir;
    private String tlsPin;

    JavaDriver(String uri, String token, String supportSource) {
        this.uri = stripSlash(uri);
        this.token = token;
        this.supportSource = supportSource;
    }

    private static String stripSlash(String u) {
        return u.endsWith("/") ? u.substring(0, u.length() - 1) : u;
    }

    /**
     * The address and options of a {@code connect} step: engine {@code index}
     * of the main server or ({@code "server": "tls"}) of the runner's TLS
     * server, with the step's token and TLS fields (their meaning:
     * conformance/src/tls.rs).
     */
    private Map.Entry<String, ConnectOptions> connectTarget(int index, Map<String, Object> s) {
        Object tok = s.get("token");
        Object ca = s.get("tls_ca");
        Object pin = s.get("tls_pin");
        boolean tls = "tls".equals(s.get("server"));
        if ((tls || ca != null || "server".equals(pin)) && tlsUri == null) {
            throw new Fail("malformed step: no TLS server (the case must say \"needs\": [\"tls\"])");
        }
        String u = (tls ? stripSlash(tlsUri) : uri) + "/" + index;
        if (Boolean.TRUE.equals(s.get("plaintext"))) {
            u = u.replaceFirst("^srpys://", "srpy://");
        }
        ConnectOptions o = new ConnectOptions().token(tok == null ? token : (String) tok)
                .connectTimeout(Duration.ofSeconds(30));
        if (ca != null) {
            o = o.tlsCa(tlsDir.resolve((String) ca));
        }
        if (pin != null) {
            o = o.tlsPin("server".equals(pin) ? tlsPin : (String) pin);
        }
        return new java.util.AbstractMap.SimpleImmutableEntry<>(u, o);
    }

    // ------------------------------------------------------------------ notation

    @SuppressWarnings("unchecked")
    static Object value(Object j) {
        if (j == null || j instanceof Boolean || j instanceof String) {
            return j;
        }
        if (j instanceof Long || j instanceof BigInteger) {
            return j;
        }
        if (!(j instanceof Map) || ((Map<?, ?>) j).size() != 1) {
            throw new IllegalArgumentException("not a value notation: " + Json.write(j));
        }
        Map.Entry<String, Object> e = ((Map<String, Object>) j).entrySet().iterator().next();
        Object v = e.getValue();
        switch (e.getKey()) {
            case "int": {
                BigInteger b = new BigInteger((String) v);
                return b.bitLength() < 64 ? (Object) b.longValue() : b;
            }
            case "float": return parseFloat((String) v);
            case "bytes": return unhex((String) v);
            case "bytes_repeat": {
                Map<String, Object> m = (Map<String, Object>) v;
                byte[] unit = unhex((String) m.get("hex"));
                int times = ((Number) m.get("times")).intValue();
                byte[] out = new byte[unit.length * times];
                for (int k = 0; k < times; k++) {
                    System.arraycopy(unit, 0, out, k * unit.length, unit.length);
                }
                return out;
            }
            case "str_repeat": {
                Map<String, Object> m = (Map<String, Object>) v;
                String t = (String) m.get("text");
                int times = ((Number) m.get("times")).intValue();
                StringBuilder b = new StringBuilder(t.length() * times);
                for (int k = 0; k < times; k++) {
                    b.append(t);
                }
                return b.toString();
            }
            case "int_range": {
                Map<String, Object> m = (Map<String, Object>) v;
                long a = ((Number) m.get("start")).longValue();
                long z = ((Number) m.get("stop")).longValue();
                List<Object> out = new ArrayList<>();
                for (long k = a; k < z; k++) {
                    out.add(k);
                }
                return out;
            }
            case "list": return items(v);
            case "tuple": return Tuple.copyOf(items(v));
            case "set": return new LinkedHashSet<>(items(v));
            case "map": {
                Map<Object, Object> m = new LinkedHashMap<>();
                for (Object p : (List<Object>) v) {
                    List<Object> kv = (List<Object>) p;
                    m.put(value(kv.get(0)), value(kv.get(1)));
                }
                return m;
            }
            case "complex": {
                List<Object> c = (List<Object>) v;
                return new Complex((Double) value(c.get(0)), (Double) value(c.get(1)));
            }
            case "datetime": {
                String t = (String) v;
                return hasOffset(t) ? OffsetDateTime.parse(t) : (Object) LocalDateTime.parse(t);
            }
            case "date": return LocalDate.parse((String) v);
            case "decimal": {
                Map<String, Object> m = (Map<String, Object>) v;
                int exponent = ((Number) m.get("exponent")).intValue();
                return new BigDecimal(new BigInteger((String) m.get("mantissa")), -exponent);
            }
            case "ndarray": return ndarray((Map<String, Object>) v);
            case "nested_lists": {
                Map<String, Object> m = (Map<String, Object>) v;
                Object out = value(m.get("value"));
                for (long k = ((Number) m.get("depth")).longValue(); k > 0; k--) {
                    List<Object> l = new ArrayList<>();
                    l.add(out);
                    out = l;
                }
                return out;
            }
            case "nested_maps": {
                Map<String, Object> m = (Map<String, Object>) v;
                Object key = value(m.get("key"));
                Object out = value(m.get("value"));
                for (long k = ((Number) m.get("depth")).longValue(); k > 0; k--) {
                    Map<Object, Object> l = new LinkedHashMap<>();
                    l.put(key, out);
                    out = l;
                }
                return out;
            }
            case "pickled": throw new NotApplicable("pickled values are Python-only");
            default: throw new IllegalArgumentException("unknown notation " + e.getKey());
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Object> items(Object v) {
        List<Object> out = new ArrayList<>();
        for (Object o : (List<Object>) v) {
            out.add(value(o));
        }
        return out;
    }

    static boolean hasOffset(String t) {
        if (t.endsWith("Z") || t.endsWith("z")) {
            return true;
        }
        int at = t.indexOf('T');
        String rest = at >= 0 ? t.substring(at) : t;
        return rest.contains("+") || rest.contains("-");
    }

    static double parseFloat(String t) {
        switch (t) {
            case "nan": return Double.longBitsToDouble(0x7ff8000000000000L);
            case "inf": return Double.POSITIVE_INFINITY;
            case "-inf": return Double.NEGATIVE_INFINITY;
            default: return Double.parseDouble(t);
        }
    }

    static byte[] unhex(String h) {
        byte[] out = new byte[h.length() / 2];
        for (int k = 0; k < out.length; k++) {
            out[k] = (byte) Integer.parseInt(h.substring(2 * k, 2 * k + 2), 16);
        }
        return out;
    }

    private static final Map<String, Integer> SIZES = new LinkedHashMap<>();

    static {
        for (String d : new String[] {"bool", "int8", "uint8"}) {
            SIZES.put(d, 1);
        }
        for (String d : new String[] {"int16", "uint16", "float16"}) {
            SIZES.put(d, 2);
        }
        for (String d : new String[] {"int32", "uint32", "float32"}) {
            SIZES.put(d, 4);
        }
        for (String d : new String[] {"int64", "uint64", "float64"}) {
            SIZES.put(d, 8);
        }
    }

    @SuppressWarnings("unchecked")
    static NDArray ndarray(Map<String, Object> m) {
        String dtype = (String) m.get("dtype");
        List<Object> dims = (List<Object>) m.get("shape");
        long[] shape = new long[dims.size()];
        long n = 1;
        for (int k = 0; k < shape.length; k++) {
            shape[k] = ((Number) dims.get(k)).longValue();
            n *= shape[k];
        }
        int size = SIZES.get(dtype);
        byte[] data;
        if (m.containsKey("data_repeat")) {
            byte[] unit = unhex((String) m.get("data_repeat"));
            data = new byte[(int) (n * size)];
            for (int k = 0; k < data.length; k++) {
                data[k] = unit[k % unit.length];
            }
        } else {
            data = unhex((String) m.get("data"));
        }
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int count = (int) n;
        Object arr;
        switch (dtype) {
            case "bool": {
                boolean[] a = new boolean[count];
                for (int k = 0; k < count; k++) {
                    a[k] = data[k] != 0;
                }
                arr = a;
                break;
            }
            case "int8": case "uint8": arr = data; break;
            case "int16": case "uint16": case "float16": {
                short[] a = new short[count];
                b.asShortBuffer().get(a);
                arr = a;
                break;
            }
            case "int32": case "uint32": {
                int[] a = new int[count];
                b.asIntBuffer().get(a);
                arr = a;
                break;
            }
            case "float32": {
                float[] a = new float[count];
                b.asFloatBuffer().get(a);
                arr = a;
                break;
            }
            case "int64": case "uint64": {
                long[] a = new long[count];
                b.asLongBuffer().get(a);
                arr = a;
                break;
            }
            case "float64": {
                double[] a = new double[count];
                b.asDoubleBuffer().get(a);
                arr = a;
                break;
            }
            default: throw new IllegalArgumentException("dtype " + dtype);
        }
        return new NDArray(dtype, shape, "F".equals(m.get("order")), arr);
    }

    // ------------------------------------------------------------------ equality

    private static boolean isInt(Object o) {
        return o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte
                || o instanceof BigInteger;
    }

    private static BigInteger big(Object o) {
        return o instanceof BigInteger ? (BigInteger) o : BigInteger.valueOf(((Number) o).longValue());
    }

    static String show(Object o) {
        String s;
        if (o == null) {
            s = "null";
        } else if (o instanceof byte[]) {
            byte[] b = (byte[]) o;
            s = b.length > 32 ? "byte[" + b.length + "]" : "byte" + Arrays.toString(b);
        } else {
            s = o + " (" + o.getClass().getSimpleName() + ")";
        }
        return s.length() > 160 ? s.substring(0, 157) + "..." : s;
    }

    /** Null when {@code got} is {@code want} by the suite's equality, else why not. */
    static String differ(Object got, Object want, String path) {
        String mismatch = path + ": got " + show(got) + ", want " + show(want);
        if (want == null || got == null) {
            return got == want ? null : mismatch;
        }
        if (isInt(want)) {
            return isInt(got) && big(got).equals(big(want)) ? null : mismatch;
        }
        if (want instanceof Double) {
            return got instanceof Double && Double.doubleToRawLongBits((Double) got) == Double.doubleToRawLongBits((Double) want)
                    ? null : mismatch;
        }
        if (want instanceof byte[]) {
            return got instanceof byte[] && Arrays.equals((byte[]) got, (byte[]) want) ? null : mismatch;
        }
        if (want instanceof List) {
            if (!(got instanceof List) || (got instanceof Tuple) != (want instanceof Tuple)) {
                return mismatch;
            }
            List<?> a = (List<?>) got;
            List<?> b = (List<?>) want;
            if (a.size() != b.size()) {
                return path + ": got " + a.size() + " items, want " + b.size();
            }
            for (int k = 0; k < a.size(); k++) {
                String why = differ(a.get(k), b.get(k), path + "[" + k + "]");
                if (why != null) {
                    return why;
                }
            }
            return null;
        }
        if (want instanceof Map) {
            if (!(got instanceof Map)) {
                return mismatch;
            }
            Map<?, ?> a = (Map<?, ?>) got;
            Map<?, ?> b = (Map<?, ?>) want;
            if (a.size() != b.size()) {
                return path + ": got " + a.size() + " entries, want " + b.size();
            }
            Iterator<? extends Map.Entry<?, ?>> ia = a.entrySet().iterator();
            int k = 0;
            for (Map.Entry<?, ?> eb : b.entrySet()) {
                Map.Entry<?, ?> ea = ia.next();
                String why = differ(ea.getKey(), eb.getKey(), path + ".key#" + k);
                if (why == null) {
                    why = differ(ea.getValue(), eb.getValue(), path + "[" + show(eb.getKey()) + "]");
                }
                if (why != null) {
                    return why;
                }
                k++;
            }
            return null;
        }
        if (want instanceof Set) {
            if (!(got instanceof Set)) {
                return mismatch;
            }
            List<Object> rest = new ArrayList<>((Collection<?>) got);
            if (rest.size() != ((Set<?>) want).size()) {
                return path + ": got " + rest.size() + " elements, want " + ((Set<?>) want).size();
            }
            for (Object w : (Set<?>) want) {
                int hit = -1;
                for (int k = 0; k < rest.size(); k++) {
                    if (differ(rest.get(k), w, path) == null) {
                        hit = k;
                        break;
                    }
                }
                if (hit < 0) {
                    return path + ": element " + show(w) + " missing";
                }
                rest.remove(hit);
            }
            return null;
        }
        if (want instanceof NDArray && got instanceof NDArray) {
            NDArray a = (NDArray) got;
            NDArray b = (NDArray) want;
            if (!a.getDtype().equals(b.getDtype()) || !Arrays.equals(a.getShape(), b.getShape())
                    || a.isFortranOrder() != b.isFortranOrder()) {
                return mismatch;
            }
            return Arrays.deepEquals(new Object[] {a.getData()}, new Object[] {b.getData()}) ? null
                    : path + ": ndarray data differ";
        }
        return got.getClass() == want.getClass() && got.equals(want) ? null : mismatch;
    }

    // ------------------------------------------------------------------ errors

    static String kind(Throwable e) {
        for (Class<?> c = e.getClass(); c != null; c = c.getSuperclass()) {
            switch (c.getSimpleName()) {
                case "RemoteException": return "remote";
                case "EngineDiedException": return "engine_died";
                case "SRPyTimeoutException": return "timeout";
                case "InterruptedRemoteException": return "interrupted";
                case "AuthException": return "auth";
                case "ProtocolException": return "protocol";
                case "NotTransferableException": return "not_transferable";
                case "NoSuchEngineException": return "no_such_engine";
                case "UnsupportedOpException": return "unsupported_op";
                case "ServerNotFoundException": return "server_not_found";
                default: break;
            }
        }
        return "(" + e.getClass().getName() + ")";
    }

    static String remoteType(Throwable e) {
        try {
            Method m = e.getClass().getMethod("getRemoteType");
            return (String) m.invoke(e);
        } catch (ReflectiveOperationException x) {
            return null;
        }
    }

    static String describe(Throwable e) {
        return e.getClass().getSimpleName() + " [" + kind(e) + "]: " + e.getMessage();
    }

    // ------------------------------------------------------------------ steps

    PythonEngine engine(int index) {
        PythonEngine e = engines.get(index);
        if (e == null) {
            e = new PythonEngine(uri + "/" + index, token, Duration.ofSeconds(30));
            e.setOutputHandler(PythonEngine.DISCARD_OUTPUT);
            engines.put(index, e);
        }
        return e;
    }

    interface Call {
        Object run() throws Exception;
    }

    @SuppressWarnings("unchecked")
    void outcome(Map<String, Object> s, Call call) {
        Object wantErr = s.get("expect_error");
        Object got;
        try {
            got = call.run();
        } catch (Fail | NotApplicable f) {
            throw f;
        } catch (Throwable e) {
            if (wantErr == null) {
                throw new Fail("unexpected error " + describe(e));
            }
            matchError(e, (Map<String, Object>) wantErr);
            return;
        }
        if (wantErr != null) {
            throw new Fail("expected error " + Json.write(wantErr) + ", got the value " + show(got));
        }
        if (s.containsKey("expect")) {
            String why = differ(got, value(s.get("expect")), "v");
            if (why != null) {
                throw new Fail(why);
            }
        }
    }

    static void matchError(Throwable e, Map<String, Object> want) {
        String k = kind(e);
        if (want.get("kind") != null && !want.get("kind").equals(k)) {
            throw new Fail("error kind " + k + " (" + describe(e) + "), want " + want.get("kind"));
        }
        if (want.get("type") != null && !want.get("type").equals(remoteType(e))) {
            throw new Fail("remote type " + remoteType(e) + " (" + describe(e) + "), want " + want.get("type"));
        }
        Object mc = want.get("message_contains");
        if (mc != null && (e.getMessage() == null || !e.getMessage().contains((String) mc))) {
            throw new Fail("error message " + Json.quote(String.valueOf(e.getMessage())) + " lacks " + mc);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> vars(Map<String, Object> s) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (s.containsKey("name") && s.containsKey("value")) {
            out.put((String) s.get("name"), value(s.get("value")));
            return out;
        }
        Object v = s.get("vars");
        if (v != null) {
            for (Object p : (List<Object>) v) {
                List<Object> kv = (List<Object>) p;
                out.put((String) kv.get(0), value(kv.get(1)));
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static List<String> strings(Object o) {
        List<String> out = new ArrayList<>();
        if (o != null) {
            for (Object x : (List<Object>) o) {
                out.add((String) x);
            }
        }
        return out;
    }

    static byte[] packageZip(String name, String init) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(bytes)) {
            z.putNextEntry(new ZipEntry(name + "/__init__.py"));
            z.write(init.getBytes(StandardCharsets.UTF_8));
            z.closeEntry();
        }
        return bytes.toByteArray();
    }

    void prepare() {
        PythonEngine e0 = engine(0);
        for (PythonEngine e : engines.values()) {
            e.clear();
        }
        e0.install(SUPPORT, supportSource);
    }

    @SuppressWarnings("unchecked")
    void step(Map<String, Object> s) throws Exception {
        String op = (String) s.get("op");
        int index = s.get("engine") == null ? 0 : ((Number) s.get("engine")).intValue();
        if (op.equals("box") || op.equals("mrs") || op.equals("mrp") || op.equals("map")
                || op.equals("fastest") || op.equals("dead")) {
            boxStep(op, s);
            return;
        }
        if (op.equals("connect")) {
            Map.Entry<String, ConnectOptions> target = connectTarget(index, s);
            outcome(s, () -> {
                try (PythonEngine e = new PythonEngine(target.getKey(), target.getValue())) {
                    return e.ping() == null ? null : null;
                }
            });
            return;
        }
        PythonEngine eng = engine(index);
        Object t = s.get("timeout");
        PythonEngine timed = t != null && (op.equals("eval") || op.equals("exec"))
                ? eng.withTimeout(Duration.ofMillis((long) (((Number) t).doubleValue() * 1000))) : eng;
        switch (op) {
            case "ping": outcome(s, eng::ping); return;
            case "whoami": {
                Map<Object, Object> who = eng.whoami();
                for (String k : strings(s.get("expect_keys"))) {
                    if (!who.containsKey(k)) {
                        throw new Fail("whoami lacks " + k + ": " + show(who));
                    }
                }
                return;
            }
            case "set": outcome(s, () -> {
                eng.set(vars(s));
                return null;
            }); return;
            case "get": outcome(s, () -> eng.get((String) s.get("name"))); return;
            case "get_many": outcome(s, () -> eng.get(strings(s.get("names")))); return;
            case "names": {
                List<String> names = eng.names();
                if (s.containsKey("expect") && !names.equals(strings(s.get("expect")))) {
                    throw new Fail("names " + names + ", want " + s.get("expect"));
                }
                for (String n : strings(s.get("expect_contains"))) {
                    if (!names.contains(n)) {
                        throw new Fail("names " + names + " lack " + n);
                    }
                }
                for (String n : strings(s.get("expect_absent"))) {
                    if (names.contains(n)) {
                        throw new Fail("names " + names + " hold " + n);
                    }
                }
                return;
            }
            case "delete": outcome(s, () -> {
                eng.delete(strings(s.get("names")).toArray(new String[0]));
                return null;
            }); return;
            case "clear": outcome(s, () -> {
                eng.clear();
                return null;
            }); return;
            case "eval": outcome(s, () -> timed.eval((String) s.get("expr"), vars(s))); return;
            case "exec": outcome(s, () -> {
                timed.exec((String) s.get("code"), vars(s));
                return null;
            }); return;
            case "vexec": outcome(s, () -> eng.vexec((String) s.get("code"), strings(s.get("get")), vars(s))); return;
            case "call": outcome(s, () -> {
                List<Object> args = new ArrayList<>();
                if (s.get("args") != null) {
                    for (Object a : (List<Object>) s.get("args")) {
                        args.add(value(a));
                    }
                }
                Map<String, Object> kwargs = new LinkedHashMap<>();
                if (s.get("kwargs") != null) {
                    for (Object p : (List<Object>) s.get("kwargs")) {
                        List<Object> kv = (List<Object>) p;
                        kwargs.put((String) kv.get(0), value(kv.get(1)));
                    }
                }
                return eng.callKw((String) s.get("name"), args, kwargs);
            }); return;
            case "install": outcome(s, () -> {
                String name = (String) s.get("module");
                String source = (String) s.get("source");
                if (Boolean.TRUE.equals(s.get("is_package"))) {
                    eng.installPackage(name, packageZip(name, source));
                } else {
                    eng.install(name, source);
                }
                return null;
            }); return;
            case "import": outcome(s, () -> {
                eng.imp(strings(s.get("modules")).toArray(new String[0]));
                return null;
            }); return;
            case "is_busy": outcome(s, eng::isBusy); return;
            case "wait": outcome(s, () -> eng.await(((Number) s.get("timeout")).doubleValue())); return;
            case "interrupt": outcome(s, eng::interrupt); return;
            case "benchmark": {
                Benchmark b = eng.benchmark(((Number) s.getOrDefault("cycles", 1L)).intValue());
                if (!(b.getNetSeconds() >= 0 && b.getProcSeconds() >= 0)) {
                    throw new Fail("implausible benchmark " + b);
                }
                return;
            }
            case "interrupt_loop": interruptLoop(eng); return;
            case "roundtrip": roundtrip(eng, s); return;
            default: throw new NotApplicable("unknown op " + op);
        }
    }

    static void interruptLoop(PythonEngine eng) throws Exception {
        Throwable[] caught = new Throwable[1];
        boolean[] finished = new boolean[1];
        Thread t = new Thread(() -> {
            try {
                eng.exec("import time\n_t0 = time.time()\nwhile time.time() - _t0 < 10:\n    pass\n");
                finished[0] = true;
            } catch (Throwable e) {
                caught[0] = e;
            }
        });
        t.setDaemon(true);
        t.start();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!eng.isBusy()) {
            if (System.nanoTime() > deadline) {
                throw new Fail("the loop never showed as busy");
            }
            Thread.sleep(10);
        }
        Thread.sleep(100);
        boolean hit = eng.interrupt();
        t.join(30_000);
        if (!hit) {
            throw new Fail("interrupt answered false while the loop ran");
        }
        if (caught[0] == null) {
            throw new Fail(finished[0] ? "the loop finished normally: it was not interrupted" : "the loop did not end");
        }
        if (!kind(caught[0]).equals("interrupted")) {
            throw new Fail("the loop failed with " + describe(caught[0]) + ", want interrupted");
        }
    }

    void roundtrip(PythonEngine eng, Map<String, Object> s) {
        Object want = value(s.get("value"));
        Object back = s.containsKey("expect_back") ? value(s.get("expect_back")) : want;
        eng.set("v", want);
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("_spec", Json.write(s.get("value")));
        Object verdict = eng.eval("__import__('" + SUPPORT + "').check(v, _spec)", spec);
        if (!Boolean.TRUE.equals(verdict)) {
            throw new Fail("the engine received another value: " + show(verdict));
        }
        Object check = s.get("check");
        if (check != null) {
            Object r = eng.eval((String) check);
            if (!Boolean.TRUE.equals(r)) {
                throw new Fail("check " + check + " answered " + show(r));
            }
        }
        String why = differ(eng.get("v"), back, "v");
        if (why != null) {
            throw new Fail("the value came back different: " + why);
        }
    }

    // ------------------------------------------------------------------ the box (by reflection: EngBox may not exist yet)

    @SuppressWarnings("unchecked")
    void boxStep(String op, Map<String, Object> s) throws Exception {
        Class<?> cls;
        try {
            cls = Class.forName("org.srpy.EngBox");
        } catch (ClassNotFoundException e) {
            throw new NotApplicable("org.srpy has no EngBox yet (issue 4)");
        }
        if (op.equals("box")) {
            List<PythonEngine> list = new ArrayList<>();
            for (Object i : (List<Object>) s.get("engines")) {
                list.add(engine(((Number) i).intValue()));
            }
            try {
                box = cls.getConstructor(List.class).newInstance(list);
            } catch (NoSuchMethodException e) {
                box = cls.getConstructor(Collection.class).newInstance(list);
            }
            return;
        }
        if (box == null) {
            throw new Fail("no box step before " + op);
        }
        if (op.equals("map")) {
            List<Object> items = new ArrayList<>();
            for (Object x : (List<Object>) s.get("items")) {
                items.add(value(x));
            }
            Method m = findMethod(cls, "map", String.class, List.class, Object[].class);
            outcomeMap(s, () -> m.invoke(box, s.get("func"), items, new Object[0]));
            return;
        }
        if (op.equals("fastest")) {
            // getFastest with the original defaults (single, "all").
            List<Object> ranked = (List<Object>) findMethod(cls, "getFastest", boolean.class, String.class)
                    .invoke(box, true, "all");
            List<Object> engines = (List<Object>) findMethod(cls, "getEngines").invoke(box);
            int got = ranked.size() == 1 ? engines.indexOf(ranked.get(0)) : -1;
            List<Object> want = (List<Object>) s.get("expect_one_of");
            if (want.stream().noneMatch(w -> ((Number) w).intValue() == got)) {
                throw new Fail("fastest engine #" + got + ", want one of " + want);
            }
            return;
        }
        if (op.equals("dead")) {
            List<Object> dead = (List<Object>) findMethod(cls, "getDead").invoke(box);
            List<Object> engines = (List<Object>) findMethod(cls, "getEngines").invoke(box);
            List<Integer> got = new ArrayList<>();
            for (Object e : dead) {
                got.add(engines.indexOf(e));
            }
            List<Integer> want = new ArrayList<>();
            for (Object w : (List<Object>) s.get("expect")) {
                want.add(((Number) w).intValue());
            }
            if (!got.equals(want)) {
                throw new Fail("getDead() answered " + got + ", want " + want);
            }
            return;
        }
        // The original box's mrs / mrp are runSequential / runParallel in Java.
        Method m = findMethod(cls, op.equals("mrs") ? "runSequential" : "runParallel", String.class, Object[].class);
        List<Object> args = new ArrayList<>();
        if (s.get("args") != null) {
            for (Object a : (List<Object>) s.get("args")) {
                args.add(value(a));
            }
        }
        Object r = m.invoke(box, s.get("method"), args.toArray());
        List<Object> results = r instanceof Map ? new ArrayList<>(((Map<Object, Object>) r).values())
                : new ArrayList<>((Collection<Object>) r);
        List<Object> want = (List<Object>) s.get("expect_each");
        if (results.size() != want.size()) {
            throw new Fail(results.size() + " results, want " + want.size());
        }
        for (int k = 0; k < want.size(); k++) {
            Map<String, Object> w = (Map<String, Object>) want.get(k);
            Object got = results.get(k);
            if (w.containsKey("error")) {
                if (!(got instanceof Throwable)) {
                    throw new Fail("engine #" + k + ": got " + show(got) + ", want an error");
                }
                matchError((Throwable) got, (Map<String, Object>) w.get("error"));
            } else {
                if (got instanceof Throwable) {
                    throw new Fail("engine #" + k + ": got the error " + describe((Throwable) got));
                }
                String why = differ(got, value(w.get("value")), "engine#" + k);
                if (why != null) {
                    throw new Fail(why);
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    void outcomeMap(Map<String, Object> s, Call call) {
        Object wantErr = s.get("expect_error");
        Object got;
        try {
            got = call.run();
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable c = e.getCause();
            if (wantErr == null) {
                throw new Fail("unexpected error " + describe(c));
            }
            matchError(c, (Map<String, Object>) wantErr);
            return;
        } catch (Exception e) {
            throw new Fail("map failed: " + describe(e));
        }
        if (wantErr != null) {
            throw new Fail("expected error " + Json.write(wantErr) + ", got " + show(got));
        }
        List<Object> want = new ArrayList<>();
        for (Object x : (List<Object>) s.get("expect")) {
            want.add(value(x));
        }
        String why = differ(new ArrayList<>((Collection<Object>) got), want, "v");
        if (why != null) {
            throw new Fail(why);
        }
    }

    static Method findMethod(Class<?> cls, String name, Class<?>... params) {
        try {
            return cls.getMethod(name, params);
        } catch (NoSuchMethodException e) {
            throw new NotApplicable("EngBox has no " + name + Arrays.toString(params));
        }
    }

    // ------------------------------------------------------------------ cases

    @SuppressWarnings("unchecked")
    String[] runCase(Map<String, Object> c) {
        Object clients = c.get("clients");
        if (clients != null && !((List<Object>) clients).contains(CLIENT)) {
            return new String[] {"n/a", "case not meant for this client"};
        }
        box = null;
        try {
            prepare();
        } catch (Throwable e) {
            return new String[] {"fail", "preparing the case: " + describe(e)};
        }
        List<Object> steps = (List<Object>) c.get("steps");
        for (int k = 0; k < steps.size(); k++) {
            Map<String, Object> s = (Map<String, Object>) steps.get(k);
            String where = "step " + k + " (" + s.get("op") + "): ";
            try {
                step(s);
            } catch (Fail f) {
                return new String[] {"fail", where + f.getMessage()};
            } catch (NotApplicable n) {
                return new String[] {"n/a", where + n.getMessage()};
            } catch (Throwable e) {
                return new String[] {"fail", where + describe(e)};
            }
        }
        return new String[] {"pass", ""};
    }

    static boolean selected(String name, String pattern) {
        if (pattern == null || pattern.isEmpty()) {
            return true;
        }
        for (String p : pattern.split(",")) {
            p = p.trim();
            if (p.isEmpty()) {
                continue;
            }
            StringBuilder re = new StringBuilder();
            for (char ch : p.toCharArray()) {
                if (ch == '*') {
                    re.append(".*");
                } else if (ch == '?') {
                    re.append('.');
                } else {
                    re.append(Pattern.quote(String.valueOf(ch)));
                }
            }
            if (name.matches(re.toString())) {
                return true;
            }
        }
        return false;
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new LinkedHashMap<>();
        for (int k = 0; k + 1 < argv.length; k += 2) {
            a.put(argv[k], argv[k + 1]);
        }
        for (String need : new String[] {"--uri", "--token", "--cases"}) {
            if (!a.containsKey(need)) {
                System.err.println("usage: JavaDriver --uri URI --token TOKEN --cases DIR [--case PATTERN]");
                System.exit(2);
            }
        }
        Path dir = Paths.get(a.get("--cases"));
        String support = new String(Files.readAllBytes(dir.resolve("support").resolve(SUPPORT + ".py")),
                StandardCharsets.UTF_8);
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            for (Path p : ds) {
                files.add(p);
            }
        }
        Collections.sort(files);
        JavaDriver d = new JavaDriver(a.get("--uri"), a.get("--token"), support);
        if (a.containsKey("--tls-uri")) {
            d.tlsUri = a.get("--tls-uri");
            d.tlsDir = Paths.get(a.get("--tls-dir"));
            d.tlsPin = a.get("--tls-pin");
        }
        for (Path f : files) {
            Map<String, Object> doc = (Map<String, Object>) Json.parse(new String(Files.readAllBytes(f), StandardCharsets.UTF_8));
            for (Object c : (List<Object>) doc.get("cases")) {
                Map<String, Object> cs = (Map<String, Object>) c;
                String name = (String) cs.get("name");
                if (!selected(name, a.get("--case"))) {
                    continue;
                }
                String[] r = d.runCase(cs);
                System.out.println("{\"case\": " + Json.quote(name) + ", \"status\": " + Json.quote(r[0])
                        + ", \"detail\": " + Json.quote(r[1]) + "}");
                System.out.flush();
            }
        }
        for (PythonEngine e : d.engines.values()) {
            try {
                e.close();
            } catch (RuntimeException ignored) {
                // closing is best effort
            }
        }
    }
}
