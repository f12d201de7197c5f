package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** Many Java threads sharing one engine handle. */
class ConcurrencyTest {

    @Test
    void eightThreadsShareOneEngine() throws Exception {
        try (PythonEngine eng = TestServer.engine(0)) {
            int threads = 8;
            int rounds = 200;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                final int id = t;
                fs.add(pool.submit(() -> {
                    try {
                        start.await();
                        String name = "v" + id;
                        for (int i = 0; i < rounds; i++) {
                            eng.set(name, i);
                            assertEquals((long) i * 2 + id, eng.eval(name + " * 2 + " + id));
                            assertEquals((long) i, eng.get(name));
                            assertEquals(List.of((long) id, (long) i), eng.call("list", List.of(id, i)));
                            if (i % 50 == 0) {
                                assertEquals("pong", eng.ping());
                                eng.isBusy();
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : fs) {
                f.get(120, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertTrue(failures.isEmpty(), () -> "failures: " + failures);
            Map<String, Object> all = eng.get(List.of("v0", "v7"));
            assertEquals((long) rounds - 1, all.get("v7"));
        }
    }

    @Test
    void outputOfConcurrentCallsGoesToTheRightThreads() throws Exception {
        try (PythonEngine eng = TestServer.engine(0)) {
            ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
            eng.setOutputHandler((stream, text) -> seen.add(Thread.currentThread().getName() + "|" + text));
            List<CompletableFuture<Void>> fs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                final int id = i;
                fs.add(CompletableFuture.runAsync(() -> {
                    Thread.currentThread().setName("caller-" + id);
                    eng.exec("print('from " + id + "')");
                }, Executors.newSingleThreadExecutor()));
            }
            for (CompletableFuture<Void> f : fs) {
                f.get(30, TimeUnit.SECONDS);
            }
            assertEquals(8, seen.size(), seen.toString());
            for (String s : seen) {
                String[] parts = s.split("\\|");
                assertEquals("caller-" + parts[1].replace("from ", "").trim(), parts[0], s);
            }
        }
    }

    @Test
    void manyFuturesPipelined() {
        try (PythonEngine eng = TestServer.engine(1)) {
            List<CompletableFuture<Object>> fs = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                fs.add(eng.evalAsync(i + " * " + i));
            }
            for (int i = 0; i < 100; i++) {
                assertEquals((long) i * i, fs.get(i).join());
            }
        }
    }

    @Test
    void closeRacingCallsNeverCrashes() throws Exception {
        for (int round = 0; round < 5; round++) {
            PythonEngine eng = TestServer.get().connect(0);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < 200; i++) {
                        try {
                            eng.eval("1+1");
                        } catch (IllegalStateException | EngineDiedException expected) {
                            return null;
                        }
                    }
                    return null;
                }));
            }
            Thread.sleep(5);
            eng.close();
            for (Future<?> f : fs) {
                f.get(30, TimeUnit.SECONDS);
            }
            pool.shutdown();
        }
    }
}
