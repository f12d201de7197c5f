package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * Child JVMs with the packaged jar and no environment variables but
 * {@code PATH} (and those a test gives): they end by themselves, the native
 * library loads from the jar or a given file, and {@code new LocalServer(n)}
 * runs the jar's server with a Python it finds.
 */
class ExitIT {
    static final class Result {
        int code;
        String out;
        double seconds;
    }

    static Path jar() {
        return Paths.get(System.getProperty("srpy.jar", "target/srpy-0.1.0.jar")).toAbsolutePath();
    }

    static String testClasses() {
        return Paths.get("target/test-classes").toAbsolutePath().toString();
    }

    static Result run(List<String> jvmArgs, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(jar() + File.pathSeparator + testClasses());
        cmd.add("org.srpy.it.NoCloseMain");
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", System.getenv("PATH"));
        pb.environment().putAll(env);
        Path log = Files.createTempFile("srpy-exit-", ".log");
        pb.redirectOutput(log.toFile());
        long t0 = System.nanoTime();
        Process p = pb.start();
        boolean done = p.waitFor(10, TimeUnit.SECONDS);
        Result r = new Result();
        r.seconds = (System.nanoTime() - t0) / 1e9;
        if (!done) {
            p.destroyForcibly();
        }
        r.out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        assertTrue(done, "the child JVM did not exit within 10 s; output:\n" + r.out);
        r.code = p.exitValue();
        return r;
    }

    @Test
    void programWithoutCloseExits() throws Exception {
        LocalServer srv = TestServer.get();
        Result r = run(List.of(), Map.of("SRPY_TOKEN", srv.getToken()), "engine", srv.engineUri(0));
        assertEquals(0, r.code, r.out);
        assertTrue(r.out.contains("result 42"), r.out);
        assertTrue(r.out.contains("engine output"), r.out);
    }

    /** PATH with the test Python's folder first (a python3 there can import srpy). */
    static String pathWithTestPython() {
        return Paths.get(TestServer.python()).getParent() + File.pathSeparator + "/usr/bin:/bin";
    }

    @Test
    void programWithAnUnclosedLocalServerExitsAndStopsIt() throws Exception {
        // new LocalServer(1): the jar's server binary, the first python3 on PATH that can import srpy
        Result r = run(List.of(), Map.of("PATH", pathWithTestPython()), "local");
        assertEquals(0, r.code, r.out);
        assertTrue(r.out.contains("result 42"), r.out);
        long pid = Long.parseLong(r.out.replaceAll("(?s).*server-pid (\\d+).*", "$1"));
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the server was stopped");
    }

    @Test
    void nativeLibraryFromAGivenFile() throws Exception {
        LocalServer srv = TestServer.get();
        Path lib = TestServer.repo().resolve("target/release/" + System.mapLibraryName("srpy_jvm"));
        Result ok = run(List.of("-Dorg.srpy.native.path=" + lib), Map.of("SRPY_TOKEN", srv.getToken()),
                "engine", srv.engineUri(0));
        assertEquals(0, ok.code, ok.out);
        assertTrue(ok.out.contains("result 42"), ok.out);
        Result bad = run(List.of("-Dorg.srpy.native.path=/nonexistent/libsrpy_jvm.so"),
                Map.of("SRPY_TOKEN", srv.getToken()), "engine", srv.engineUri(0));
        assertEquals(1, bad.code, bad.out);
        assertTrue(bad.out.contains("org.srpy.native.path=/nonexistent/libsrpy_jvm.so is not a file"), bad.out);
    }

    @Test
    void localServerTakesThePythonOfTheSystemProperty() throws Exception {
        Result r = run(List.of("-Dsrpy.python=" + TestServer.python()), Map.of("PATH", "/usr/bin:/bin"), "local");
        assertEquals(0, r.code, r.out);
        assertTrue(r.out.contains("result 42"), r.out);
    }

    @Test
    void withoutAPythonThatHasSrpyTheErrorSaysHowToGetOne() throws Exception {
        // A folder whose python3 cannot import srpy (the engines' Python is elsewhere).
        Path dir = Files.createTempDirectory("srpy-nopython-");
        Path fake = dir.resolve("python3");
        Files.writeString(fake, "#!/bin/sh\nexit 1\n");
        assertTrue(fake.toFile().setExecutable(true));
        try {
            Result r = run(List.of(), Map.of("PATH", dir.toString()), "local");
            assertEquals(1, r.code, r.out);
            assertTrue(r.out.contains("org.srpy.SRPyException: no Python for the engines: none of " + fake
                    + " can import srpy"), r.out);
            assertTrue(r.out.contains("\n    python3 -m pip install srpy\n"), r.out);
            assertTrue(r.out.contains("-Dsrpy.python=/path/to/python"), r.out);
            assertFalse(r.out.contains("LocalServerOptions"), r.out);
        } finally {
            Files.delete(fake);
            Files.delete(dir);
        }
    }
}
