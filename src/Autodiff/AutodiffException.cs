namespace Autodiff;

/// <summary>Base class of every error the library raises for bad input: a shape mismatch, an unknown axis,
/// a wrong element type, a bad index or a malformed program.</summary>
public class AutodiffException : Exception
{
    /// <summary>Creates the exception with a message that names the op and the shapes involved.</summary>
    public AutodiffException(string message) : base(message) { }

    /// <summary>Creates the exception keeping the error that caused it.</summary>
    public AutodiffException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>An op was given operands whose shapes or element types it cannot accept.</summary>
public sealed class ShapeException : AutodiffException
{
    /// <summary>The op that rejected its operands, in its expression-language name.</summary>
    public string Op { get; }

    /// <summary>Creates the exception; the message is prefixed with the op name.</summary>
    public ShapeException(string op, string message) : base($"{op}: {message}") => Op = op;
}
