// Compiles contracts/DevToken.sol with the pinned solcjs and prints {abi, bytecode, deployedBytecode}
// as JSON on stdout. Used by deploy.py when it rebuilds the devnet state.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const file = "DevToken.sol";
const input = {
  language: "Solidity",
  sources: { [file]: { content: fs.readFileSync(path.join(__dirname, "contracts", file), "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const c = output.contracts[file].DevToken;
process.stdout.write(
  JSON.stringify({
    compiler: solc.version(),
    abi: c.abi,
    bytecode: "0x" + c.evm.bytecode.object,
    deployedBytecode: "0x" + c.evm.deployedBytecode.object,
  }),
);
