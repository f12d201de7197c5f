package org.srpy;

/** The engine or server does not know the operation. */
public class UnsupportedOpException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public UnsupportedOpException(String message) {
        super(message);
    }

    public UnsupportedOpException(String message, Throwable cause) {
        super(message, cause);
    }
}
