package org.srpy;

/** Authentication failed: wrong or missing token. */
public class AuthException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public AuthException(String message) {
        super(message);
    }

    public AuthException(String message, Throwable cause) {
        super(message, cause);
    }
}
