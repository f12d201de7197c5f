package org.srpy;

/** Nothing answered at the address. */
public class ServerNotFoundException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public ServerNotFoundException(String message) {
        super(message);
    }

    public ServerNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
