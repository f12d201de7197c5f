package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Jython scenarios of src/test/jython, each in one Jython 2.7 process:
 * {@code java -cp jython-standalone.jar:srpy.jar org.python.util.jython script.py <server-uri> <cert-dir>}
 * (the certificates of {@link TestPki}, for scenario_tls.py; scenario_cluster.py
 * takes the ssh hosts of {@link SshHosts} instead),
 * with no environment variables but the server's token and a {@code PATH}
 * whose first python3 can import srpy ({@code srpy.local} finds the rest).
 */
class JythonIT {

    static String jythonJar() {
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (e.contains("jython-standalone")) {
                return e;
            }
        }
        throw new IllegalStateException("jython-standalone is not on the test classpath");
    }

    /** The certificates of scenario_tls.py (its second argument). */
    private static Path certs;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TestPki.make();
    }

    @AfterAll
    static void removeCertificates() throws Exception {
        TestPki.remove(certs);
    }

    @ParameterizedTest
    @ValueSource(strings = {"scenario_full.py", "scenario_original.py", "scenario_tls.py"})
    void scenario(String script) throws Exception {
        run(script, TestServer.get().getUri(), certs.toString());
    }

    /** srpy.Cluster over ssh, on the three hosts of {@link SshHosts}; nothing is left on them after. */
    @Test
    void clusterScenario() throws Exception {
        try (SshHosts hosts = new SshHosts()) {
            List<String> args = new ArrayList<>();
            args.add(TestServer.python() + " -m srpy.server");
            args.add(String.join("\t", hosts.sshCommand));
            args.addAll(hosts.names);
            run("scenario_cluster.py", args.toArray(new String[0]));
            assertEquals("left 0 ", hosts.srpyLeft().substring(0, 7));
        }
    }

    private static void run(String script, String... args) throws Exception {
        LocalServer srv = TestServer.get();
        Path dir = Paths.get(System.getProperty("srpy.jython.dir", "src/test/jython")).toAbsolutePath();
        Path jar = ExitIT.jar();
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-cp");
        cmd.add(jythonJar() + File.pathSeparator + jar);
        cmd.add("org.python.util.jython");
        cmd.add(dir.resolve(script).toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", ExitIT.pathWithTestPython());
        pb.environment().put("SRPY_TOKEN", srv.getToken());
        Path log = Files.createTempFile("srpy-jython-", ".log");
        pb.redirectOutput(log.toFile());
        Process p = pb.start();
        boolean done = p.waitFor(120, TimeUnit.SECONDS);
        if (!done) {
            p.destroyForcibly();
        }
        String out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        System.out.println("---- " + script + "\n" + out);
        assertTrue(done, script + " did not end within 120 s:\n" + out);
        assertEquals(0, p.exitValue(), script + " failed:\n" + out);
        assertTrue(out.matches("(?s).*\\b\\d+ passed, 0 failed.*"), out);
    }
}
