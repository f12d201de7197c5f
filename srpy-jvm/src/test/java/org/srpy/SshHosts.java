package org.srpy;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Three ssh "hosts" (network namespaces with a real sshd each) made by
 * {@code src/test/python/ssh_hosts_serve.py} over {@code srpy-py/tests/ssh_hosts.py},
 * alive until {@link #close()}. Where they cannot be made (not root, no
 * sshd) the test is skipped, or fails under CI ({@code CI} set), as the
 * Python ssh tests do.
 */
final class SshHosts implements AutoCloseable {
    final List<String> names;
    final List<String> sshCommand;
    private final Process helper;
    private final BufferedReader out;
    private final Writer in;

    SshHosts() throws IOException {
        String script = TestServer.repo().resolve("srpy-jvm/src/test/python/ssh_hosts_serve.py").toString();
        helper = new ProcessBuilder(TestServer.python(), script).redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        out = new BufferedReader(new InputStreamReader(helper.getInputStream(), StandardCharsets.UTF_8));
        in = new OutputStreamWriter(helper.getOutputStream(), StandardCharsets.UTF_8);
        String first = out.readLine();
        if (first == null) {
            close();
            fail("ssh_hosts_serve.py ended without making the hosts (its stderr is above)");
        }
        if (first.startsWith("unavailable")) {
            close();
            if (System.getenv("CI") != null) {
                fail("ssh cluster tests cannot run in CI: " + first);
            }
            assumeTrue(false, first);
        }
        names = Arrays.asList(first.substring("hosts ".length()).split(" "));
        sshCommand = Arrays.asList(out.readLine().substring("ssh ".length()).split("\t"));
    }

    /** {@code left N {host: [pids]}}: the srpy processes left on the hosts. */
    String srpyLeft() throws IOException {
        in.write("pids\n");
        in.flush();
        return out.readLine();
    }

    @Override
    public void close() throws IOException {
        try {
            in.close();
            if (!helper.waitFor(30, TimeUnit.SECONDS)) {
                helper.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            helper.destroyForcibly();
        }
    }
}
