package org.srpy;

/** The connection to the engine was lost while the request was in flight (the engine died or was restarted). The next call on the same engine reconnects. */
public class EngineDiedException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public EngineDiedException(String message) {
        super(message);
    }

    public EngineDiedException(String message, Throwable cause) {
        super(message, cause);
    }
}
