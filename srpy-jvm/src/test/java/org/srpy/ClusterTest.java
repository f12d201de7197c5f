package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** {@link Cluster#ssh} against real OpenSSH servers on three "hosts" ({@link SshHosts}). */
class ClusterTest {
    private static Cluster.SshOptions options(SshHosts hosts, List<String> names) {
        return new Cluster.SshOptions(names).engines("1").sshCommand(hosts.sshCommand)
                .serverCommand(TestServer.python() + " -m srpy.server").startTimeout(Duration.ofSeconds(60));
    }

    @Test
    void aMapOverThreeHostsThenNothingLeftAndAnUnreachableHostIsNamed() throws Exception {
        try (SshHosts hosts = new SshHosts()) {
            try (Cluster c = Cluster.ssh(options(hosts, hosts.names))) {
                assertEquals(hosts.names, c.getHosts());
                assertEquals(3, c.getBox().size());
                Set<String> addresses = new HashSet<>();
                for (String u : c.getUris()) {
                    // Across hosts over TLS, each server verified by the pin it printed.
                    assertTrue(u.startsWith("srpys://"), u);
                    addresses.add(u.replaceAll("^srpys://([^:]+):.*", "$1"));
                }
                assertEquals(3, addresses.size(), c.getUris().toString());
                List<Object> items = new ArrayList<>();
                List<Object> want = new ArrayList<>();
                for (long x = 0; x < 60; x++) {
                    items.add(x);
                    want.add(x * x);
                }
                assertEquals(want, c.getBox().mapExpr("x * x", items));
                assertTrue(c.getFailures().isEmpty(), c.getFailures().toString());
                assertTrue(hosts.srpyLeft().startsWith("left 6 "), "a server and an engine per host");
            }
            // close() waited for every server to stop.
            assertEquals("left 0 ", hosts.srpyLeft().substring(0, 7));

            List<String> two = List.of(hosts.names.get(0), "h-refused");
            ClusterException e = assertThrows(ClusterException.class, () -> Cluster.ssh(options(hosts, two)));
            assertEquals(1, e.getFailures().size(), e.getMessage());
            assertEquals("h-refused", e.getFailures().get(0).getHost());
            assertTrue(e.getFailures().get(0).getReason().contains("Connection refused"), e.getMessage());
            assertTrue(e.getMessage().contains("1 of 2 host(s) started, 2 needed"), e.getMessage());
        }
    }
}
