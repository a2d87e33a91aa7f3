using System.Runtime.CompilerServices;
using Autodiff.Tests.Fused;
using Autodiff.Tests.Numerics;
using Autodiff.Text;

namespace Autodiff.Tests.Ops;

/// <summary>The registration point of every op type, checked by reflection: a language function (the function table is
/// generated from the op types), a gradient-check case, and an ONNX lowering or an explicit reason why there is none.</summary>
public class OpRegistrationTests
{
    private static IEnumerable<Type> OpTypes => OpRegistry.OpTypes;

    /// <summary>An instance with default attributes, only to read its <see cref="Op.Name"/> (no constructor runs).</summary>
    private static Op Blank(Type t) => (Op)RuntimeHelpers.GetUninitializedObject(t);

    [Fact]
    public void Every_op_type_declares_its_functions_and_prints_under_a_registered_name()
    {
        var undeclared = OpTypes.Where(t => OpRegistry.FunctionsOf(t) is null).Select(t => t.Name).ToArray();
        Assert.True(undeclared.Length == 0, "op types without IOpFunctions: " + string.Join(", ", undeclared));
        var unnamed = OpTypes.Where(t => t != typeof(InputOp) && !Functions.TryGet(Blank(t).Name, out _)).Select(t => t.Name).ToArray();
        Assert.True(unnamed.Length == 0, "op types whose name is no function: " + string.Join(", ", unnamed));
    }

    [Fact]
    public void The_function_table_is_the_ops_declarations()
    {
        var declared = OpRegistry.AllFunctions().ToArray();
        Assert.Equal(declared.Length, declared.Select(f => f.Name).Distinct().Count());
        foreach (var f in declared)
        {
            Assert.True(Functions.TryGet(f.Name, out var registered), f.Name);
            Assert.Equal(f.Parameters, registered.Parameters);
        }
        Assert.Contains("expand", declared.Select(f => f.Name));
    }

    [Fact]
    public void Every_op_type_has_an_onnx_lowering_or_says_why_not()
    {
        foreach (var t in OpTypes)
        {
            bool lowers = OpRegistry.HasOnnxLowering(t);
            string? reason = OpRegistry.NotExportableReason(t);
            Assert.True(lowers != (reason is not null), $"{t.Name}: {(lowers ? "both a lowering and a not-exportable reason" : "neither a lowering nor a not-exportable reason")}");
            if (reason is not null) Assert.False(string.IsNullOrWhiteSpace(reason), t.Name);
        }
    }

    [Fact]
    public void A_not_exportable_op_is_refused_with_its_reason()
    {
        var g = Parser.Parse("input x: f32[2, 3]\ny = pnorm(x, 3, axis=1)");
        var e = Assert.Throws<AutodiffException>(() => global::Autodiff.Interop.OnnxExporter.ToOnnx(g, Stream.Null));
        Assert.Equal($"onnx export: op 'pnorm' has no ONNX mapping ({OpRegistry.NotExportableReason(typeof(PNormOp))})", e.Message);
    }

    /// <summary>Op types no gradient flows through (samples, indices, marginals, indicator tensors); their own tests check
    /// that they pass none.</summary>
    private static readonly Type[] NotDifferentiable =
        [typeof(GumbelNoiseOp), typeof(GumbelMaxOp), typeof(GumbelTopKOp), typeof(CrfViterbiOp), typeof(CrfMarginalsOp), typeof(CrfPathMarginalsOp), typeof(MaskedOneHotOp),
         typeof(SampledLogitsGradOp), typeof(CandidateSamplerOp), typeof(ExpectedCountOp)];

    /// <summary>Op types whose gradient check lives beside their other tests (the named test), not in the tables.</summary>
    private static readonly Dictionary<Type, string> CheckedElsewhere = new()
    {
        [typeof(CrfLogLikelihoodOp)] = nameof(Structured.CrfTests.GradientCheckAgainstFiniteDifferences),
        [typeof(ProdOthersOp)] = nameof(Structured.ProductTests.ProdOthersFamily),
        [typeof(StopGradientOp)] = nameof(OpGradientTable.StopGradientBlocksTheGradient),
        [typeof(NceLossOp)] = nameof(Structured.SampledLossTests.GradientsMatchFiniteDifferencesAndTheSymbolicGradient),
        [typeof(SampledSoftmaxLossOp)] = nameof(Structured.SampledLossTests.GradientsMatchFiniteDifferencesAndTheSymbolicGradient),
    };

    [Fact]
    public void Every_op_type_has_a_gradient_case()
    {
        var covered = new HashSet<Type>();
        void Add(Graph g) { foreach (var n in g.Nodes()) covered.Add(n.Op.GetType()); }
        foreach (var c in OpGradientTable.Cases) Add(OpGradientTable.Instantiate(c, 0).Graph);
        foreach (var c in FusedCatalog.Small) Add(c.Graph(DType.F64));
        foreach (var c in EdgeGradientCheckTests.Cases) Add(Parser.Parse(c.Program));
        var missing = OpTypes.Where(t => t != typeof(InputOp) && t != typeof(ConstantOp) && !covered.Contains(t) && !NotDifferentiable.Contains(t) && !CheckedElsewhere.ContainsKey(t))
            .Select(t => t.Name).Order().ToArray();
        Assert.True(missing.Length == 0, "op types without a gradient-check case: " + string.Join(", ", missing));
    }
}
