package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;

/** Every exception class, from real failures where they can be caused, else through the native mapping. */
class ErrorsTest {

    @Test
    void remoteExceptionsKeepTypeMessageAndTraceback() {
        try (PythonEngine eng = TestServer.engine(0)) {
            RemoteException e = assertThrows(RemoteException.class, () -> eng.eval("1/0"));
            assertEquals("ZeroDivisionError", e.getRemoteType());
            assertEquals("division by zero", e.getRemoteMessage());
            assertEquals("ZeroDivisionError: division by zero", e.getMessage());
            assertTrue(e.getRemoteTraceback().contains("Traceback"), e.getRemoteTraceback());
            assertTrue(e.getRemoteTraceback().contains("ZeroDivisionError"), e.getRemoteTraceback());
            assertInstanceOf(SRPyException.class, e);

            eng.exec("class MyError(Exception):\n    pass\ndef boom():\n    raise MyError('custom')");
            RemoteException c = assertThrows(RemoteException.class, () -> eng.call("boom"));
            assertTrue(c.getRemoteType().endsWith("MyError"), c.getRemoteType());
            assertEquals("custom", c.getRemoteMessage());

            RemoteException k = assertThrows(RemoteException.class, () -> eng.eval("{}['missing']"));
            assertEquals("KeyError", k.getRemoteType());
            RemoteException s = assertThrows(RemoteException.class, () -> eng.exec("def ("));
            assertEquals("SyntaxError", s.getRemoteType());
            assertEquals("pong", eng.ping());
        }
    }

    @Test
    void engineDiedThenReconnects() {
        try (PythonEngine eng = TestServer.engine(1)) {
            Object pid = eng.whoami().get("pid");
            assertThrows(EngineDiedException.class, () -> eng.exec("import os; os._exit(3)"));
            // the server restarts the engine; the next call reconnects (fresh namespace)
            assertEquals("pong", eng.ping());
            assertNotEquals(pid, eng.whoami().get("pid"));
            assertEquals(2L, eng.eval("1+1"));
        }
    }

    @Test
    void timeoutAndInterrupted() throws Exception {
        try (PythonEngine eng = TestServer.engine(0)) {
            assertThrows(SRPyTimeoutException.class,
                    () -> eng.withTimeout(Duration.ofMillis(200)).eval("__import__('time').sleep(10)"));
            assertTrue(eng.await(10));
            CompletableFuture<Void> f = eng.execAsync("while True: pass");
            Thread.sleep(300);
            assertTrue(eng.interrupt());
            Exception e = assertThrows(Exception.class, f::join);
            assertInstanceOf(InterruptedRemoteException.class, e.getCause());
        }
    }

    @Test
    void wrongTokenIsAuthException() {
        LocalServer srv = TestServer.get();
        AuthException e = assertThrows(AuthException.class, () -> new PythonEngine(srv.engineUri(0), "not-the-token"));
        assertNotNull(e.getMessage());
    }

    @Test
    void nothingListeningIsServerNotFound() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        ServerNotFoundException e = assertThrows(ServerNotFoundException.class,
                () -> new PythonEngine("srpy://127.0.0.1:" + port + "/0", null, Duration.ofSeconds(2)));
        assertTrue(e.getMessage().contains(String.valueOf(port)), e.getMessage());
    }

    @Test
    void garbageFromThePeerIsProtocolException() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (Socket c = s.accept()) {
                    OutputStream o = c.getOutputStream();
                    o.write(new byte[] {0, 0, 0, 2, (byte) 0xff, (byte) 0xff});
                    o.flush();
                    Thread.sleep(3000);
                } catch (Exception ignored) {
                    // the client hung up
                }
            });
            t.setDaemon(true);
            t.start();
            assertThrows(ProtocolException.class,
                    () -> new PythonEngine("127.0.0.1:" + s.getLocalPort(), null, Duration.ofSeconds(2)));
        }
    }

    @Test
    void noSuchEngineAndBadUris() {
        LocalServer srv = TestServer.get();
        SRPyException e = assertThrows(SRPyException.class,
                () -> new PythonEngine(srv.getUri() + "/99", srv.getToken(), Duration.ofSeconds(2)));
        assertTrue(e instanceof NoSuchEngineException || e instanceof SRPyTimeoutException, e.toString());
        assertThrows(IllegalArgumentException.class, () -> new PythonEngine("http://nope"));
        assertThrows(NullPointerException.class, () -> new PythonEngine(null));
    }

    /** Each error kind of the Rust client becomes its Java class (through the real error policy). */
    @Test
    void everyErrorKindMapsToItsClass() {
        Object[][] cases = {
            {"protocol", ProtocolException.class}, {"version", ProtocolException.class},
            {"auth", AuthException.class}, {"engine_died", EngineDiedException.class},
            {"timeout", SRPyTimeoutException.class}, {"interrupted", InterruptedRemoteException.class},
            {"not_transferable", NotTransferableException.class}, {"unsupported_op", UnsupportedOpException.class},
            {"no_such_engine", NoSuchEngineException.class}, {"server_not_found", ServerNotFoundException.class},
            {"limit", SRPyException.class}, {"io", SRPyException.class}, {"other", SRPyException.class},
            {"closed", IllegalStateException.class}, {"invalid_uri", IllegalArgumentException.class},
            {"arg", IllegalArgumentException.class}, {"panic", SRPyException.class},
        };
        for (Object[] c : cases) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> Native.testThrow((String) c[0]));
            assertEquals(c[1], e.getClass(), (String) c[0]);
        }
        RemoteException r = assertThrows(RemoteException.class, () -> Native.testThrow("remote"));
        assertEquals("KeyError", r.getRemoteType());
        assertTrue(r.getRemoteTraceback().startsWith("Traceback"));
        SRPyException p = assertThrows(SRPyException.class, () -> Native.testThrow("panic"));
        assertTrue(p.getMessage().contains("panic"), p.getMessage());
        // the library still works after a caught panic
        try (PythonEngine eng = TestServer.engine(0)) {
            assertEquals("pong", eng.ping());
        }
    }
}
