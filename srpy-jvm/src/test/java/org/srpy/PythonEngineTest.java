package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every method of PythonEngine against a real engine. */
class PythonEngineTest {
    PythonEngine eng;

    @BeforeEach
    void connect() {
        eng = TestServer.engine(0);
    }

    @AfterEach
    void close() {
        if (!eng.isClosed()) {
            eng.close();
        }
    }

    @Test
    void connectingWaysAndInfo() {
        LocalServer srv = TestServer.get();
        try (PythonEngine a = PythonEngine.connect(srv.engineUri(1), srv.getToken());
             PythonEngine b = new PythonEngine(srv.engineUri(1), srv.getToken(), Duration.ofSeconds(5))) {
            assertEquals("pong", a.ping());
            assertEquals("pong", b.ping());
            assertEquals(srv.engineUri(1), a.getUri());
            assertEquals(1L, a.info().get("index"));
            assertTrue(a.isConnected());
            assertTrue(a.toString().contains(srv.engineUri(1)));
        }
    }

    @Test
    void setGetNamesDeleteClear() {
        eng.set("a", 1);
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("b", "two");
        vars.put("c", List.of(3L));
        eng.set(vars);
        assertEquals(1L, eng.get("a"));
        Map<String, Object> got = eng.get(List.of("c", "a"));
        assertEquals(List.of("c", "a"), new ArrayList<>(got.keySet()));
        assertEquals(List.of(3L), got.get("c"));
        assertEquals(List.of("a", "b", "c"), eng.names());
        eng.delete("b", "c");
        assertEquals(List.of("a"), eng.names());
        eng.clear();
        assertEquals(Collections.emptyList(), eng.names());
        RemoteException e = assertThrows(RemoteException.class, () -> eng.get("a"));
        assertEquals("NameError", e.getRemoteType());
    }

    @Test
    void evalExecVexec() {
        assertEquals(2L, eng.eval("1+1"));
        assertEquals(5L, eng.eval("a+b", Map.of("a", 2, "b", 3)));
        assertEquals(2L, eng.get("a"), "eval's vars stay bound");
        eng.exec("import math\nr = math.floor(x * 10)", Map.of("x", 1.25));
        assertEquals(12L, eng.get("r"));
        eng.exe("r2 = r + 1");
        eng.exe("r3 = r2 + y", Map.of("y", 1));
        assertEquals(14L, eng.get("r3"));
        Map<String, Object> v = eng.vexec("c = n * 2\nd = c + 1", List.of("c", "d"), Map.of("n", 2));
        assertEquals(Map.of("c", 4L, "d", 5L), v);
        assertFalse(eng.names().contains("n"), "vexec leaves the namespace alone");
        assertEquals(Map.of("z", 1L), eng.vexe("z = 1", List.of("z"), null));
    }

    @Test
    void callFunctionDescribe() {
        assertEquals(7L, eng.call("max", 3, 7));
        assertEquals(2.0, eng.call("math.sqrt", 4.0));
        eng.exec("def f(a, b=10, *, c=0):\n    'adds'\n    return a + b + c");
        assertEquals(111L, eng.callKw("f", List.of(1), Map.of("c", 100)));
        assertEquals(11L, eng.call("f", 1));
        RemoteFunction f = eng.function("f");
        assertEquals("f", f.getName());
        assertEquals(6L, f.call(1, 5));
        assertEquals(106L, f.callKw(List.of(1, 5), Map.of("c", 100)));
        assertEquals("adds", f.getDoc());
        assertEquals("function", f.describe().get("kind"));
        assertEquals(2L, eng.associateFunction("len").call(List.of(1, 2)));
        assertEquals("module", eng.describe("os").get("kind"));
        assertEquals(8L, eng.call("pow", 2, 3));
        assertEquals(Tuple.of(1L, null), eng.call("tuple", java.util.Arrays.asList(1, null)));
    }

    @Test
    void installAndImport() throws Exception {
        eng.install("jvm_mod", "def triple(x):\n    return 3 * x\nNAME = 'jvm_mod'\n");
        eng.imp("jvm_mod");
        assertEquals(9L, eng.eval("jvm_mod.triple(3)"));
        eng.install("jvm_mod", "def triple(x):\n    return 30 * x\n");
        assertEquals(90L, eng.eval("jvm_mod.triple(3)"), "reinstalled modules are reloaded");

        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(buf)) {
            z.putNextEntry(new ZipEntry("jvm_pkg/__init__.py"));
            z.write("from .sub import value\n".getBytes(StandardCharsets.UTF_8));
            z.putNextEntry(new ZipEntry("jvm_pkg/sub.py"));
            z.write("value = 41 + 1\n".getBytes(StandardCharsets.UTF_8));
        }
        eng.installPackage("jvm_pkg", buf.toByteArray());
        eng.imp("jvm_pkg", "os.path as osp");
        assertEquals(42L, eng.eval("jvm_pkg.value"));
        assertEquals("b", eng.eval("osp.basename('/a/b')"));
        RemoteException e = assertThrows(RemoteException.class, () -> eng.imp("no_such_module_xyz"));
        assertTrue(e.getRemoteType().endsWith("ModuleNotFoundError"), e.getRemoteType());
    }

    @Test
    void whoamiPingBusyWaitBenchmark() {
        Map<Object, Object> who = eng.whoami();
        assertNotNull(who.get("pid"));
        assertEquals("pong", eng.ping());
        assertFalse(eng.isBusy());
        assertTrue(eng.await(1.0));
        assertTrue(eng.waitIdle());
        assertTrue(eng.waitIdle(Duration.ofSeconds(1)));
        assertTrue(eng.wait_(0.5));
        CompletableFuture<Void> running = eng.execAsync("import time; time.sleep(0.6)");
        long t0 = System.nanoTime();
        while (!eng.isBusy() && System.nanoTime() - t0 < 2_000_000_000L) {
            Thread.onSpinWait();
        }
        assertTrue(eng.isBusy());
        assertEquals("pong", eng.ping(), "ping is answered while busy");
        assertFalse(eng.await(0.05));
        long w0 = System.nanoTime();
        assertFalse(eng.await(0));
        assertTrue(System.nanoTime() - w0 < 200_000_000L, "await(0) answers at once");
        assertTrue(eng.await(5));
        running.join();
        Benchmark b = eng.benchmark(3);
        assertTrue(b.getNetSeconds() > 0 && b.getNetSeconds() < 1, b.toString());
        assertTrue(b.getProcSeconds() > 0, b.toString());
        assertFalse(b.isBusy());
        assertThrows(IllegalArgumentException.class, () -> eng.benchmark(0));
        assertThrows(IllegalArgumentException.class, () -> eng.await(-1));
    }

    @Test
    void interruptAndTimeouts() throws Exception {
        assertFalse(eng.interrupt(), "nothing running");
        CompletableFuture<Object> f = eng.evalAsync("__import__('time').sleep(30)");
        Thread.sleep(300);
        assertTrue(eng.interrupt());
        Exception e = assertThrows(Exception.class, f::join);
        assertInstanceOf(InterruptedRemoteException.class, e.getCause());
        assertEquals("pong", eng.ping());

        PythonEngine quick = eng.withTimeout(Duration.ofMillis(300));
        assertEquals(Duration.ofMillis(300), quick.getTimeout());
        long t0 = System.nanoTime();
        assertThrows(SRPyTimeoutException.class, () -> quick.exec("import time; time.sleep(20)"));
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        assertTrue(eng.await(10), "the timed-out call was interrupted");
        assertEquals(3L, quick.eval("1+2"), "a view works for quick calls");
        assertEquals(null, eng.getTimeout());
    }

    @Test
    void outputGoesToTheHandlerBeforeTheCallReturns() {
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        eng.setOutputHandler((stream, text) -> seen.add(stream + ":" + text));
        eng.exec("import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nfor i in range(100): print(i)");
        String all = String.join("", seen);
        assertTrue(all.contains("stdout:hello\n"), all);
        assertTrue(all.contains("stderr:oops\n"), all);
        assertTrue(all.contains("stdout:99\n"), all);
        assertEquals(5L, eng.eval("print('in eval') or 5"));
        assertTrue(String.join("", seen).contains("in eval"));
        // a failing handler does not break the call
        eng.setOutputHandler((s, t) -> {
            throw new RuntimeException("handler failure (expected in this test)");
        });
        assertEquals(1L, eng.eval("print('x') or 1"));
        eng.setOutputHandler(null);
        assertEquals(PythonEngine.DISCARD_OUTPUT, eng.getOutputHandler());
        assertEquals(2L, eng.eval("print('dropped') or 2"));
        eng.setOutputHandler(PythonEngine.STDIO_OUTPUT);
    }

    @Test
    void futures() {
        CompletableFuture<Void> s = eng.setAsync("fa", 40);
        s.join();
        assertEquals(42L, eng.evalAsync("fa + 2").join());
        assertEquals(43L, eng.evalAsync("fa + k", Map.of("k", 3)).join());
        eng.execAsync("fb = fa * 2").join();
        eng.execAsync("fc = fb + k", Map.of("k", 1)).join();
        assertEquals(81L, eng.getAsync("fc").join());
        assertEquals(9L, eng.callAsync("max", 1, 9).join());
        assertEquals(Map.of("q", 2L), eng.vexecAsync("q = 2", List.of("q"), null).join());
        assertEquals("pong", eng.submit(PythonEngine::ping).join());
        CompletableFuture<Object> bad = eng.evalAsync("1/0");
        Exception e = assertThrows(Exception.class, bad::join);
        assertInstanceOf(RemoteException.class, e.getCause());
    }

    @Test
    void closeTwiceAndCallsAfterClose() {
        PythonEngine view = eng.withTimeout(Duration.ofSeconds(5));
        eng.close();
        assertTrue(eng.isClosed());
        assertTrue(view.isClosed(), "views share the state");
        IllegalStateException twice = assertThrows(IllegalStateException.class, eng::close);
        assertEquals("already closed", twice.getMessage());
        assertThrows(IllegalStateException.class, eng::ping);
        assertThrows(IllegalStateException.class, () -> eng.eval("1"));
        assertThrows(IllegalStateException.class, () -> view.set("a", 1));
        assertThrows(IllegalStateException.class, () -> eng.evalAsync("1"));
        assertThrows(IllegalStateException.class, eng::info);
        assertThrows(IllegalStateException.class, () -> eng.benchmark(1));
    }

    @Test
    void closeWhileACallIsInFlight() throws Exception {
        CompletableFuture<Object> f = eng.evalAsync("__import__('time').sleep(1) or 7");
        Thread.sleep(200);
        eng.close();
        assertThrows(IllegalStateException.class, eng::ping);
        // the call in flight finishes (or fails cleanly); the handle is freed after it
        try {
            assertEquals(7L, f.get());
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            assertTrue(c instanceof IllegalStateException || c instanceof EngineDiedException, String.valueOf(c));
        }
        assertThrows(IllegalStateException.class, eng::ping);
        try (PythonEngine other = TestServer.get().connect(0)) {
            assertTrue(other.await(10));
        }
    }

    @Test
    void nativeLibraryVersion() {
        assertEquals("0.1.0", Native.version());
    }
}
