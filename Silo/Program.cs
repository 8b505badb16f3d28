using GanCluster.Silo;

// The silo process: Orleans, /metrics, /health and Serilog; wiring lives in GanSiloApp.
var app = GanSiloApp.Build(args);
await app.RunAsync();
