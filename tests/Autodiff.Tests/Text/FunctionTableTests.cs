using Autodiff.Text;

namespace Autodiff.Tests.Text;

public class FunctionTableTests
{
    [Fact]
    public void A_registered_function_parses_with_positional_named_and_optional_arguments()
    {
        Functions.Register(new("test_scale_shift",
            [FunctionParam.Tensor("x"), FunctionParam.Tensor("shift", optional: true), FunctionParam.Number("scale"), FunctionParam.Bool("twice")],
            c =>
            {
                var y = c.Tensor("x") * c.Number("scale");
                if (c.Bool("twice")) y = y * c.Number("scale");
                return c.OptionalTensor("shift") is { } s ? y + s : y;
            }));
        Assert.Contains("test_scale_shift", Functions.Names);
        Assert.Throws<ArgumentException>(() => Functions.Register(new("test_scale_shift", [], c => throw new InvalidOperationException())));

        var g = Parser.Parse("input x: f64[2]\na = test_scale_shift(x, scale=2)\nb = test_scale_shift(x, 1, -0.5, twice=true)");
        Assert.Equal("input x: f64[2]\nb = x * -0.5 * -0.5 + 1\noutput b", Printer.Print(g));
        Assert.Equal("x * 2", Printer.PrintExpression(g.Names.Single(kv => kv.Value == "a").Key));

        var e = Assert.Throws<ParseException>(() => Parser.Parse("input x: f64[2]\na = test_scale_shift(x)"));
        Assert.Equal("2:5: the call to 'test_scale_shift' is missing argument 'scale' (it takes test_scale_shift(x, shift?, scale, twice?))", e.Message);
        e = Assert.Throws<ParseException>(() => Parser.Parse("input x: f64[2]\na = test_scale_shift(x, scale=x)"));
        Assert.Equal("2:31: argument 'scale' of 'test_scale_shift' must be a number, found 'x'", e.Message);
    }

    [Fact]
    public void Aliases_and_invalid_registrations()
    {
        Assert.True(Functions.TryGet("expand", out var expand));
        Assert.Equal("expand", expand.Name);
        Assert.Equal(Functions.TryGet("broadcast_to", out var b) ? b.Parameters : null, expand.Parameters);
        Assert.Throws<ArgumentException>(() => Functions.Alias("test_nothing_alias", "test_no_such_function"));
        Assert.Throws<ArgumentException>(() => Functions.Register(new("not a name", [], c => throw new InvalidOperationException())));
        Assert.Throws<ArgumentException>(() => Functions.Register(new("test_repeated_param", [FunctionParam.Tensor("x"), FunctionParam.Int("x")], c => c.Tensor("x"))));
    }

    [Fact]
    public void Every_builtin_op_name_has_a_function()
    {
        foreach (var name in Builtins)
            Assert.True(Functions.TryGet(name, out _), name);
    }

    internal static readonly string[] Builtins =
        [
            "neg", "exp", "log", "sqrt", "abs", "sign", "square", "sigmoid", "tanh", "relu", "softplus", "log_sigmoid",
                     "log1p", "expm1", "log1mexp", "logdiffexp", "log1m_softmax", "truncated_gumbel",
                     "stop_gradient", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "matmul", "sum", "mean", "max", "min",
                     "transpose", "reshape", "broadcast_to", "expand", "squeeze", "unsqueeze", "one_hot", "take", "where", "constant",
        ];

    [Theory]
    [InlineData("exq", "exp")]
    [InlineData("tahn", "tanh")]
    [InlineData("log_sigmod", "log_sigmoid")]
    [InlineData("reshpe", "reshape")]
    public void Unknown_functions_suggest_close_names(string typo, string suggestion)
    {
        var e = Assert.Throws<ParseException>(() => Parser.Parse($"input x: f32[2]\ny = {typo}(x)"));
        Assert.Contains($"unknown function '{typo}'; did you mean ", e.Message);
        Assert.Contains($"'{suggestion}'", e.Message);
    }
}
