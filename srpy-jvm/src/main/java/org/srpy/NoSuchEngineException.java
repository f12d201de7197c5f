package org.srpy;

/** The server has no engine with that index. */
public class NoSuchEngineException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public NoSuchEngineException(String message) {
        super(message);
    }

    public NoSuchEngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
