package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** LocalServer and EngBox. */
class LocalServerAndBoxTest {

    @Test
    void localServerLifecycle() {
        LocalServer srv = new LocalServer(2, TestServer.python(), TestServer.serverBin());
        try {
            assertEquals(2, srv.getEngineCount());
            assertTrue(srv.getUri().startsWith("srpy://127.0.0.1:"), srv.getUri());
            assertEquals(srv.getUri() + "/1", srv.engineUri(1));
            assertEquals(64, srv.getToken().length());
            assertTrue(srv.getPid() > 0);
            assertTrue(srv.isRunning());
            assertTrue(Files.exists(srv.getLogPath()));
            List<PythonEngine> all = srv.connectAll();
            assertEquals(2, all.size());
            assertEquals(1L, all.get(1).info().get("index"));
            for (PythonEngine e : all) {
                assertEquals("pong", e.ping());
                e.close();
            }
            try (PythonEngine e = srv.connect(0)) {
                assertEquals(4L, e.eval("2+2"));
            }
        } finally {
            srv.close();
        }
        assertFalse(srv.isRunning());
        assertEquals("already closed", assertThrows(IllegalStateException.class, srv::close).getMessage());
        assertThrows(IllegalStateException.class, () -> srv.connect(0));
        assertThrows(IllegalArgumentException.class, () -> new LocalServer(0));
        SRPyException e = assertThrows(SRPyException.class, () -> new LocalServer(1, TestServer.python(), "/nonexistent/srpy-server"));
        assertTrue(e.getMessage().contains("/nonexistent/srpy-server"), e.getMessage());
    }

    @Test
    void engBox() {
        LocalServer srv = TestServer.get();
        try (EngBox box = new EngBox(srv.connectAll())) {
            assertEquals(2, box.size());
            Map<PythonEngine, Object> seq = box.runSequential("eval", "1+1");
            assertEquals(List.of(2L, 2L), List.copyOf(seq.values()));
            assertEquals(box.getEngines(), List.copyOf(seq.keySet()));
            Map<PythonEngine, Object> par = box.runParallel("call", "max", 4, 5);
            assertEquals(List.of(5L, 5L), List.copyOf(par.values()));
            box.runParallel("set", "boxed", 7);
            assertEquals(List.of(7L, 7L), List.copyOf(box.runParallel("get", "boxed").values()));
            box.runParallel("imp", "math");
            box.execAll("import os");
            box.setAll(Map.of("sv", 1));
            assertEquals(List.of(2L, 2L), List.copyOf(box.evalAll("sv + 1").values()));
            assertEquals(List.of("pong", "pong"), List.copyOf(box.runParallel("ping").values()));
            assertEquals(List.of(false, false), List.copyOf(box.runParallel("isBusy").values()));
            Map<PythonEngine, Object> idx = box.runParallel(e -> e.info().get("index"));
            assertEquals(List.of(0L, 1L), List.copyOf(idx.values()));
            Map<PythonEngine, Object> bench = box.runSequential("benchmark", 2);
            for (Object v : bench.values()) {
                assertInstanceOf(Benchmark.class, v);
            }
            Map<PythonEngine, Object> failing = box.runParallel("eval", "1/0");
            for (Object v : failing.values()) {
                assertInstanceOf(RemoteException.class, v);
                assertEquals("ZeroDivisionError", ((RemoteException) v).getRemoteType());
            }
            Map<PythonEngine, Object> slow = box.runParallelTimeout(java.time.Duration.ofMillis(200), "exec",
                    "import time; time.sleep(5)");
            for (Object v : slow.values()) {
                assertInstanceOf(SRPyTimeoutException.class, v);
            }
            box.runParallel(e -> e.await(10));
            assertThrows(IllegalArgumentException.class, () -> box.runSequential("noSuchMethod"));

            java.util.List<String> seen = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
            box.setOutputHandler((stream, text) -> seen.add(text));
            box.execAll("print('boxed output')");
            assertEquals(List.of("boxed output\n", "boxed output\n"), seen);
            box.setOutputHandler(null);

            List<Object> roots = box.map("math.sqrt", List.of(1, 4, 9, 16, 25, 36, 49));
            assertEquals(List.of(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0), roots);
            assertEquals(List.of(1L, 4L, 9L), box.map("pow", List.of(1, 2, 3), 2));
            java.util.List<Integer> many = new java.util.ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                many.add(i);
            }
            List<Object> sq = box.mapExpr("x * x", many);
            assertEquals(1000, sq.size());
            assertEquals(998001L, sq.get(999));
            RemoteException me = assertThrows(RemoteException.class, () -> box.map("math.sqrt", List.of(1, -1, 4)));
            assertEquals("ValueError", me.getRemoteType());
            assertTrue(me.getMessage().contains("map item 1"), me.getMessage());

            box.scatter("part", many);
            assertEquals(List.of(500L, 500L), List.copyOf(box.evalAll("len(part)").values()));
            assertEquals(many.size(), box.gather("part").size());
            assertEquals(999L, box.gather("part").get(999));

            assertEquals(2, box.searchForEngine(null, null, null, null).size());
            assertEquals(2, box.searchForEngine(null, null, "127.0.0.1", null).size());
            Object host = box.get(0).info().get("hostname");
            assertEquals(2, box.searchForEngine(null, null, null, (String) host).size());
            assertEquals(0, box.searchForEngine("no-such-name", null, null, null).size());

            assertEquals(2, box.getFastest(false, "net").size());
            assertEquals(1, box.getFastest(true, "proc").size());
            assertEquals(2, box.getFastest(false, null).size());
            assertThrows(IllegalArgumentException.class, () -> box.getFastest(true, "speed"));
            // The bases are SRPy 0.2's: "all", "net", "proc" (no "both").
            assertThrows(IllegalArgumentException.class, () -> box.getFastest(true, "both"));
            assertEquals(1, box.getFastest(true, "all").size());

            assertEquals(0, box.getDead().size());
            List<PythonEngine> extra = box.startAndAppend(srv.engineUri(1), srv.getToken());
            assertEquals(1, extra.size());
            assertEquals(srv.engineUri(1), extra.get(0).getUri());
            assertEquals("pong", extra.get(0).ping());
            extra.get(0).close();
            assertEquals(extra, box.getDead());
            Map<PythonEngine, Object> withClosed = box.runParallel("ping");
            assertInstanceOf(IllegalStateException.class, withClosed.get(extra.get(0)));
            assertEquals(extra, box.cleanDead());
            assertEquals(2, box.size());
            assertTrue(box.remove(box.get(1)));
            assertEquals(1, box.size());

            try (EngBox all = EngBox.connect(srv.getUri(), srv.getToken())) {
                assertEquals(2, all.size(), "a server URI stands for all its engines");
            }
            try (EngBox b2 = new EngBox()) {
                b2.startAndAppendFromText("# engines\n" + srv.engineUri(0) + "\n" + srv.engineUri(1) + "\n", srv.getToken());
                assertEquals(2, b2.size());
                assertEquals(List.of(3L, 3L), List.copyOf(b2.runParallel("eval", "1+2").values()));
            }
        }
    }
}
