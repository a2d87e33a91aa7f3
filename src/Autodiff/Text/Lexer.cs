using System.Globalization;
using System.Text;

namespace Autodiff.Text;

internal enum TokenKind { Ident, Number, Punct, Newline, End, Error }

/// <summary>A token with its 1-based position. For <see cref="TokenKind.Error"/>, <see cref="Text"/> is the message.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Col)
{
    public bool Is(char c) => Kind == TokenKind.Punct && Text.Length == 1 && Text[0] == c;

    public bool IsIdent(string s) => Kind == TokenKind.Ident && Text == s;

    /// <summary>How the token is named after "found" in messages.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Newline => "end of line",
        TokenKind.End => "end of input",
        _ => $"'{Text}'",
    };
}

/// <summary>Splits program text into tokens. Line breaks (<c>\n</c>, <c>\r\n</c> or a lone <c>\r</c>) are tokens (statements
/// are one per line); spaces, tabs and <c>#</c> comments are skipped. An invalid character ends the token list with an error token, which the
/// parser reports when it gets there.</summary>
internal static class Lexer
{
    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        int i = 0, line = 1, lineStart = 0;
        while (true)
        {
            if (i >= text.Length)
            {
                tokens.Add(new Token(TokenKind.End, "", line, i - lineStart + 1));
                return tokens;
            }
            char c = text[i];
            int col = i - lineStart + 1;
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;   // CRLF: the \n ends the line
            else if (c is '\n' or '\r')   // \n, or a lone \r (old Mac line endings)
            {
                tokens.Add(new Token(TokenKind.Newline, "\n", line, col));   // a line break of any style
                i++;
                line++;
                lineStart = i;
            }
            else if (c is ' ' or '\t' or '\f' or '\v') i++;
            else if (c == '#')
            {
                while (i < text.Length && text[i] is not ('\n' or '\r')) i++;
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                int s = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Ident, text[s..i], line, col));
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                int s = i;
                while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
                if (i < text.Length && text[i] == '.')
                {
                    i++;
                    while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
                }
                if (i < text.Length && text[i] is 'e' or 'E')
                {
                    int j = i + 1;
                    if (j < text.Length && text[j] is '+' or '-') j++;
                    if (j < text.Length && char.IsAsciiDigit(text[j]))
                    {
                        i = j;
                        while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
                    }
                }
                tokens.Add(new Token(TokenKind.Number, text[s..i], line, col));
            }
            else if ("()[],=:+-*/@^".Contains(c))
            {
                tokens.Add(new Token(TokenKind.Punct, c.ToString(), line, col));
                i++;
            }
            else
            {
                // A character outside the basic plane (an emoji) is two UTF-16 units: report its code point, not the first half.
                string shown = Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out _) != System.Buffers.OperationStatus.Done
                    ? $"U+{(int)c:X4} (half of a UTF-16 surrogate pair, without its other half)"
                    : Rune.IsControl(rune) || Rune.IsWhiteSpace(rune) ? $"U+{rune.Value:X4}"
                    : $"'{rune}' (U+{rune.Value:X4})";
                tokens.Add(new Token(TokenKind.Error, $"unexpected character {shown}", line, col));
                tokens.Add(new Token(TokenKind.End, "", line, col));
                return tokens;
            }
        }
    }

    /// <summary>The value of a number token (overflow gives infinity).</summary>
    public static double Value(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>True if the number token is written as an integer (digits only).</summary>
    public static bool IsIntegerText(string text) => text.All(char.IsAsciiDigit);
}

/// <summary>Shared lexical rules of the language.</summary>
internal static class Syntax
{
    /// <summary>Words that cannot be used as names.</summary>
    public static readonly IReadOnlySet<string> Reserved = new HashSet<string>(StringComparer.Ordinal)
        { "inf", "nan", "true", "false", "input", "output" };

    /// <summary>True if <paramref name="s"/> can name an input or an assignment.</summary>
    public static bool IsName(string s) => GraphBuilder.IsIdentifier(s) && !Reserved.Contains(s);

    /// <summary>Candidates within edit distance 2 of <paramref name="name"/> (and closer than its length), closest first, at most 3.</summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates) =>
        candidates.Where(c => c != name)
            .Select(c => (Name: c, D: Distance(name, c)))
            .Where(p => p.D <= 2 && p.D < Math.Max(name.Length, 2))
            .OrderBy(p => p.D).ThenBy(p => p.Name, StringComparer.Ordinal)
            .Take(3).Select(p => p.Name).ToArray();

    /// <summary>"; did you mean 'a' or 'b'?" or the empty string.</summary>
    public static string DidYouMean(IReadOnlyList<string> names) => names.Count switch
    {
        0 => "",
        1 => $"; did you mean '{names[0]}'?",
        _ => $"; did you mean {string.Join(", ", names.Take(names.Count - 1).Select(n => $"'{n}'"))} or '{names[^1]}'?",
    };

    /// <summary>Levenshtein distance (with an early exit for lengths that differ by more than 2).</summary>
    public static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2) return 3;
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
