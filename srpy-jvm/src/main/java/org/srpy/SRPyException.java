package org.srpy;

/**
 * Base of every error SRPy reports (an unchecked exception). The subclasses
 * name the kind: {@link RemoteException} (Python code raised),
 * {@link EngineDiedException}, {@link SRPyTimeoutException},
 * {@link InterruptedRemoteException}, {@link AuthException},
 * {@link ProtocolException}, {@link NotTransferableException},
 * {@link ServerNotFoundException}, {@link UnsupportedOpException},
 * {@link NoSuchEngineException}. Other failures (I/O, a limit hit) are plain
 * {@code SRPyException}s.
 */
public class SRPyException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SRPyException(String message) {
        super(message);
    }

    public SRPyException(String message, Throwable cause) {
        super(message, cause);
    }
}
