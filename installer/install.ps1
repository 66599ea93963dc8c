<#
.SYNOPSIS
  CLaDMoP Studio installer for Windows (the Linux/macOS twin is install.sh). Guide: docs/INSTALL.md

.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 [-Prefix DIR] [-Torch auto|cpu|cuda|cuXXX]
      [-TorchSpec SPEC] [-TorchIndexUrl URL] [-Python PY] [-NoShortcut]
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Bundle FILE.tar [-Prefix DIR]   (offline)
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Uninstall [-Prefix DIR]
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -PrintPlan [-Torch ...]

  Makes <prefix>\venv (Python 3.11), installs torch (CUDA build when an NVIDIA driver is present, else CPU)
  and the application (not editable), copies the shipped resources to <venv>\share\cladmop\resources (where
  engine.paths.resources_dir() finds them), writes cladmop.cmd / cladmop-studio.cmd into <prefix>\bin, adds
  that folder to the user's PATH and a Start-menu shortcut, and records all of it in <prefix>\.cladmop-install
  so -Uninstall removes exactly that. A re-run upgrades in place. Needs no administrator rights.
  Windows PowerShell 5.1 compatible. Not exercised by the test suite (no Windows machine there): keep it in
  step with install.sh, whose options and steps it mirrors.
#>
[CmdletBinding()]
param(
    [string]$Prefix = (Join-Path $env:LOCALAPPDATA "cladmop-studio"),
    [string]$Bundle = "",
    [string]$Source = "",
    [string]$Torch = "auto",
    [string]$TorchSpec = "",
    [string]$TorchIndexUrl = "",
    [string]$Python = "",
    [switch]$NoShortcut,
    [switch]$Uninstall,
    [switch]$PrintPlan
)

# Cmdlet failures stop the script; functions that run native programs (python, pip, nvidia-smi) set
# "Continue" locally, because Windows PowerShell 5.1 turns their stderr lines into terminating errors.
$ErrorActionPreference = "Stop"
$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
$Marker = "written by the CLaDMoP Studio installer (install.ps1); removed by install.ps1 -Uninstall"
$TorchVersion = "2.13.0"
$PyTorchIndex = "https://download.pytorch.org/whl"
$Prefix = [System.IO.Path]::GetFullPath($Prefix)
$Venv = Join-Path $Prefix "venv"
$VenvPy = Join-Path $Venv "Scripts\python.exe"
$Record = Join-Path $Prefix ".cladmop-install"
$Log = Join-Path $Prefix "install.log"
$BinDir = Join-Path $Prefix "bin"
$Shortcut = Join-Path ([Environment]::GetFolderPath("Programs")) "CLaDMoP Studio.lnk"
$script:NewRecord = New-Object System.Collections.Generic.List[string]

function Say([string]$Text) { Write-Host "[install] $Text" }
function Die([string]$Text) { Write-Host "install.ps1: error: $Text" -ForegroundColor Red; exit 1 }
function Add-Record([string]$Line) { $script:NewRecord.Add($Line) }

# -- Python -----------------------------------------------------------------------------------------
function Find-Python {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    $candidates = @()
    if ($Python) { $candidates += ,@($Python) }
    $candidates += ,@("py", "-3.11")
    $candidates += ,@("python3.11")
    $candidates += ,@("python")
    foreach ($cand in $candidates) {
        $exe = $cand[0]
        $rest = @($cand | Select-Object -Skip 1)
        if (-not (Get-Command $exe -ErrorAction SilentlyContinue)) { continue }
        $path = & $exe @rest -c "import sys; print(sys.executable if sys.version_info[:2] == (3, 11) else '')" 2>$null
        if ($LASTEXITCODE -eq 0 -and $path) { return $path.Trim() }
    }
    Die "Python 3.11 is required (deepchem 2.8 needs < 3.12) and none was found; install it from python.org (any 3.11.x, 64-bit) or pass -Python C:\path\to\python.exe"
}

# -- torch build ------------------------------------------------------------------------------------
function Get-NvidiaDriver {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    $smi = Get-Command nvidia-smi -ErrorAction SilentlyContinue
    $path = if ($smi) { $smi.Source } else { "$env:ProgramFiles\NVIDIA Corporation\NVSMI\nvidia-smi.exe" }
    if (-not (Test-Path $path)) { return "" }
    $out = & $path --query-gpu=driver_version --format=csv,noheader 2>$null
    if ($LASTEXITCODE -ne 0 -or -not $out) { return "" }
    return (@($out)[0]).Trim()
}

function Get-CudaTag([string]$Driver) {
    foreach ($line in Get-Content (Join-Path $Here "torch_cuda.tsv")) {
        if (-not $line.Trim() -or $line.StartsWith("#")) { continue }
        $tag, $linuxMin, $windowsMin = $line -split "`t"
        if ([version]$Driver -ge [version]$windowsMin) { return $tag }
    }
    return ""
}

function Get-TorchPlan {
    $plan = @{ Variant = ""; Spec = ""; Index = $TorchIndexUrl; Why = "" }
    if ($TorchSpec) { $plan.Variant = "custom"; $plan.Spec = $TorchSpec; $plan.Why = "-TorchSpec given"; return $plan }
    if ($Torch -eq "cpu") { $plan.Variant = "cpu"; $plan.Why = "-Torch cpu" }
    elseif ($Torch -eq "auto" -or $Torch -eq "cuda") {
        $driver = Get-NvidiaDriver
        if (-not $driver) {
            if ($Torch -eq "cuda") { Die "-Torch cuda: no NVIDIA driver found (nvidia-smi is missing or fails)" }
            $plan.Variant = "cpu"; $plan.Why = "no NVIDIA driver found (nvidia-smi)"
        } else {
            $plan.Variant = Get-CudaTag $driver
            if (-not $plan.Variant) {
                if ($Torch -eq "cuda") { Die "NVIDIA driver $driver is older than every CUDA build in torch_cuda.tsv; update it or use -Torch cpu" }
                $plan.Variant = "cpu"; $plan.Why = "NVIDIA driver $driver is too old for the CUDA builds (update it for GPU use)"
            } else { $plan.Why = "NVIDIA driver $driver" }
        }
    }
    elseif ($Torch -match "^cu\d+$") { $plan.Variant = $Torch; $plan.Why = "-Torch $Torch" }
    else { Die "-Torch must be auto, cpu, cuda or a CUDA build tag such as cu128, not '$Torch'" }
    $plan.Spec = "torch==$TorchVersion+$($plan.Variant)"
    if (-not $plan.Index) { $plan.Index = "$PyTorchIndex/$($plan.Variant)" }
    return $plan
}

# -- helpers ----------------------------------------------------------------------------------------
function Invoke-Pip {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    "[install] pip $($args -join ' ')" | Out-File -Append -Encoding utf8 $Log
    & $VenvPy -m pip --no-cache-dir --disable-pip-version-check @args 2>&1 | Out-File -Append -Encoding utf8 $Log
    return ($LASTEXITCODE -eq 0)
}

function Fail-WithLog([string]$Text) {
    Get-Content $Log -Tail 25 | Where-Object { $_ -notmatch "is ignored: it is neither" } | Write-Host
    Die "$Text (full log: $Log)"
}

function Test-Ours([string]$Path) {
    return (Test-Path $Path -PathType Leaf) -and ((Get-Content $Path -Raw) -like "*$Marker*")
}

function Write-OwnedFile([string]$Path, [string]$Text) {
    $ErrorActionPreference = "Stop"
    if ((Test-Path $Path) -and -not (Test-Ours $Path)) { Die "$Path exists and was not written by this installer" }
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path) | Out-Null
    Set-Content -Path $Path -Value $Text -Encoding ASCII
    Add-Record "created=$Path"
}

function Get-InstalledTorch {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    if (-not (Test-Path $VenvPy)) { return "" }
    $v = & $VenvPy -P -c "import torch; print(torch.__version__)" 2>$null
    if ($LASTEXITCODE -ne 0) { return "" }
    return "$v".Trim()
}

# -- install ----------------------------------------------------------------------------------------
function Initialize-Prefix {
    $ErrorActionPreference = "Stop"
    if ((Test-Path $Venv) -and -not (Test-Path $Record)) { Die "$Venv exists but was not made by this installer; choose another -Prefix" }
    $created = 0
    if (-not (Test-Path $Prefix)) {
        try { New-Item -ItemType Directory -Force -Path $Prefix | Out-Null } catch { Die "cannot create $Prefix (no write access?); choose a -Prefix you can write" }
        $created = 1
    } elseif (Test-Path $Record) {
        $line = Get-Content $Record | Where-Object { $_ -like "prefix_created=*" } | Select-Object -First 1
        if ($line) { $created = $line.Substring("prefix_created=".Length) }
    }
    try { Set-Content -Path $Log -Value "" -Encoding utf8 } catch { Die "no write access to $Prefix; choose a -Prefix you can write" }
    Add-Record "# CLaDMoP Studio install record - $Marker"
    Add-Record "prefix_created=$created"
}

function New-Venv([string]$Py) {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    $ok = $false
    if (Test-Path $VenvPy) {
        & $VenvPy -P -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" 2>$null
        $ok = ($LASTEXITCODE -eq 0)
    }
    if ($ok) { Say "upgrading the existing environment $Venv" }
    else {
        if (Test-Path $Venv) { Remove-Item -Recurse -Force $Venv }
        Say "creating the Python 3.11 environment $Venv"
        & $Py -m venv $Venv 2>&1 | Out-File -Append -Encoding utf8 $Log
        if ($LASTEXITCODE -ne 0) { Fail-WithLog "could not create a virtual environment with $Py" }
    }
    Set-Content -Path (Join-Path $Venv ".cladmop-venv") -Value $Marker -Encoding ASCII
}

function Install-TorchOnline {
    $ErrorActionPreference = "Stop"
    $plan = Get-TorchPlan
    $want = $plan.Spec -replace "^torch==", ""
    if ((Get-InstalledTorch) -eq $want) { Say "torch $want is already installed ($($plan.Why))" }
    else {
        Say "installing $($plan.Spec) ($($plan.Why)); this is the large download"
        if ($TorchIndexUrl) {
            if (-not (Invoke-Pip install --index-url $TorchIndexUrl $plan.Spec)) { Fail-WithLog "could not install $($plan.Spec) from $TorchIndexUrl" }
        } elseif (-not (Invoke-Pip install $plan.Spec)) {
            Say "not on the configured package sources; trying $($plan.Index)"
            if (-not (Invoke-Pip install --index-url $plan.Index $plan.Spec)) { Fail-WithLog "could not install $($plan.Spec) (no network? use an offline bundle: -Bundle)" }
        }
    }
    return $plan.Variant
}

function Build-AppWheel([string]$Scratch) {
    $ErrorActionPreference = "Stop"
    if (-not (Test-Path (Join-Path $Source "pyproject.toml"))) { Die "$Source is not the CLaDMoP Studio source (no pyproject.toml)" }
    $src = Join-Path $Scratch "src"
    New-Item -ItemType Directory -Force -Path $src | Out-Null
    foreach ($item in "pyproject.toml", "README.md", "engine", "desktop") { Copy-Item -Recurse (Join-Path $Source $item) $src }
    Get-ChildItem -Path $src -Recurse -Directory -Filter __pycache__ | Remove-Item -Recurse -Force
    Say "building the application wheel from $Source"
    if (-not (Invoke-Pip wheel --no-deps -w (Join-Path $Scratch "dist") $src)) { Fail-WithLog "could not build the application" }
    return (Get-ChildItem (Join-Path $Scratch "dist") -Filter "cladmop_studio-*.whl" | Select-Object -First 1).FullName
}

function Install-App([string]$Wheel, [string[]]$PipOptions) {
    $ErrorActionPreference = "Stop"
    $constraints = Join-Path $Prefix "constraints.txt"
    Set-Content -Path $constraints -Value "torch==$(Get-InstalledTorch)" -Encoding ASCII
    Say "installing the application and its dependencies"
    if (-not (Invoke-Pip install @PipOptions -c $constraints $Wheel)) { Fail-WithLog "could not install the application" }
    if (-not (Invoke-Pip install @PipOptions --no-deps --force-reinstall $Wheel)) { Fail-WithLog "could not install the application" }
}

function Copy-Resources([string]$From) {
    $ErrorActionPreference = "Stop"
    if (-not (Test-Path $From)) { Die "$From`: the resources folder is missing" }
    $share = Join-Path $Venv "share\cladmop"
    New-Item -ItemType Directory -Force -Path $share | Out-Null
    $target = Join-Path $share "resources"
    if (Test-Path $target) { Remove-Item -Recurse -Force $target }
    Copy-Item -Recurse $From $target
}

function Write-Launchers {
    $ErrorActionPreference = "Stop"
    Write-OwnedFile (Join-Path $BinDir "cladmop.cmd") "@echo off`r`nrem $Marker`r`n`"$Venv\Scripts\cladmop.exe`" %*`r`n"
    Write-OwnedFile (Join-Path $BinDir "cladmop-studio.cmd") "@echo off`r`nrem $Marker`r`nstart `"`" `"$Venv\Scripts\cladmop-studio.exe`" %*`r`n"
    $userPath = [Environment]::GetEnvironmentVariable("Path", "User")
    $parts = @()
    if ($userPath) { $parts = @($userPath -split ";" | Where-Object { $_ }) }
    if ($parts -notcontains $BinDir) {
        [Environment]::SetEnvironmentVariable("Path", (($parts + $BinDir) -join ";"), "User")
        Add-Record "path_added=$BinDir"
    } elseif (Test-Path $Record) {
        Get-Content $Record | Where-Object { $_ -eq "path_added=$BinDir" } | ForEach-Object { Add-Record $_ }
    }
    Copy-Item (Join-Path $Here "cladmop-studio.svg") (Join-Path $Prefix "cladmop-studio.svg") -Force
    if ($NoShortcut) { return "none (-NoShortcut)" }
    if ((Test-Path $Shortcut) -and -not (Test-OurShortcut $Shortcut)) { Die "$Shortcut exists and was not made by this installer" }
    $shell = New-Object -ComObject WScript.Shell
    $lnk = $shell.CreateShortcut($Shortcut)
    $lnk.TargetPath = Join-Path $Venv "Scripts\cladmop-studio.exe"
    $lnk.WorkingDirectory = $env:USERPROFILE
    $lnk.Description = $Marker
    $lnk.Save()
    Add-Record "shortcut=$Shortcut"
    return $Shortcut
}

function Test-OurShortcut([string]$Path) {
    if (-not (Test-Path $Path)) { return $false }
    $shell = New-Object -ComObject WScript.Shell
    return ($shell.CreateShortcut($Path).Description -eq $Marker)
}

function Test-Installation {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    Say "checking the installation"
    & (Join-Path $Venv "Scripts\cladmop.exe") --help *> $null
    if ($LASTEXITCODE -ne 0) { Fail-WithLog "the installed cladmop does not start" }
    $env:CLADMOP_RESOURCES = ""
    $check = "import sys; from pathlib import Path; from engine.paths import resources_dir; " +
             "f = resources_dir(); print(f if f.resolve() == (Path(sys.prefix) / 'share/cladmop/resources').resolve() else 'WRONG ' + str(f))"
    $found = & $VenvPy -P -c $check 2>> $Log
    if ($LASTEXITCODE -ne 0) { Fail-WithLog "the installed engine does not import" }
    if ("$found".StartsWith("WRONG")) { Die "the installed app looks for its resources at $found" }
    & $VenvPy -P -c "import PySide6.QtWidgets, desktop.app" 2>&1 | Out-File -Append -Encoding utf8 $Log
    if ($LASTEXITCODE -ne 0) { Fail-WithLog "the desktop application does not import (Qt; is the Microsoft Visual C++ Redistributable installed?)" }
}

function Complete-Record([string]$Variant, [string]$From) {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    $version = & $VenvPy -P -c "from importlib.metadata import version; print(version('cladmop-studio'))"
    Add-Record "app_version=$version"
    Add-Record "torch=$(Get-InstalledTorch)"
    Add-Record "torch_variant=$Variant"
    Add-Record "installed_from=$From"
    Add-Record "date=$(Get-Date -Format 'yyyy-MM-dd HH:mm:ss')"
    if (Test-Path $Record) {
        foreach ($line in Get-Content $Record) {
            if ($line -match "^(created|shortcut|backbone|path_added)=" -and -not $script:NewRecord.Contains($line)) { Add-Record $line }
        }
    }
    Set-Content -Path $Record -Value $script:NewRecord -Encoding utf8
    $copy = Join-Path $Prefix "installer"
    New-Item -ItemType Directory -Force -Path $copy | Out-Null
    foreach ($item in "install.ps1", "install.sh", "bundle.py", "torch_cuda.tsv", "cladmop-studio.svg") {
        Copy-Item (Join-Path $Here $item) $copy -Force
    }
    return $version
}

function Show-Summary([string]$Version, [string]$From, [string]$Launcher) {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    $pyVersion = & $VenvPy -P -c "import platform; print(platform.python_version())"
    $cuda = & $VenvPy -P -c "import torch; print(torch.version.cuda or '')" 2>$null
    $build = if ("$cuda".Trim()) { "CUDA $cuda build" } else { "CPU build" }
    $res = Join-Path $Venv "share\cladmop\resources"
    $model = if (Test-Path (Join-Path $res "models\default\model.json")) { "present" } else { "absent" }
    $icd = if (Test-Path (Join-Path $res "icd10_embeddings.safetensors")) { "present" } else { "absent" }
    $userData = if ($env:CLADMOP_HOME) { $env:CLADMOP_HOME } else { Join-Path $env:USERPROFILE ".cladmop" }
    Write-Host ""
    Write-Host "CLaDMoP Studio $Version installed from $From"
    Write-Host "  environment  $Venv (Python $pyVersion)"
    Write-Host "  torch        $(Get-InstalledTorch) ($build)"
    Write-Host "  resources    $res (default model: $model, ICD-10 table: $icd)"
    Write-Host "  commands     $BinDir\cladmop.cmd, $BinDir\cladmop-studio.cmd (on your PATH in new terminals)"
    Write-Host "  launcher     $Launcher"
    Write-Host "  user data    $userData (made on first use; -Uninstall keeps it)"
    Write-Host "  log          $Log"
    Write-Host "  uninstall    powershell -ExecutionPolicy Bypass -File `"$Prefix\installer\install.ps1`" -Uninstall -Prefix `"$Prefix`""
}

function Install-FromSource {
    if (-not $script:Source) { $script:Source = Split-Path -Parent $Here }
    $script:Source = (Resolve-Path $script:Source).Path
    $py = Find-Python
    Set-Location ([System.IO.Path]::GetTempPath())  # pip and python must not see the current folder
    Initialize-Prefix
    New-Venv $py
    $variant = Install-TorchOnline
    $scratch = Join-Path ([System.IO.Path]::GetTempPath()) ("cladmop-" + [guid]::NewGuid())
    try {
        $wheel = Build-AppWheel $scratch
        Install-App $wheel @()
    } finally { Remove-Item -Recurse -Force $scratch -ErrorAction SilentlyContinue }
    Copy-Resources (Join-Path $script:Source "resources")
    $launcher = Write-Launchers
    Test-Installation
    $version = Complete-Record $variant "source $($script:Source)"
    Show-Summary $version "source $($script:Source)" $launcher
}

function Install-FromBundle {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    if ($TorchSpec -or $TorchIndexUrl -or $Source -or $Torch -ne "auto") { Die "-Bundle fixes the torch build and the source; leave out -Torch, -TorchSpec, -TorchIndexUrl, -Source" }
    if (-not (Test-Path $Bundle -PathType Leaf)) { Die "$Bundle`: bundle file not found" }
    $bundlePath = (Resolve-Path $Bundle).Path
    $py = Find-Python
    Set-Location ([System.IO.Path]::GetTempPath())  # pip and python must not see the current folder
    # Offline: pip sees the bundle's wheels and nothing else (no index, no user or site pip config).
    Get-ChildItem env: | Where-Object { $_.Name -like "PIP_*" } | ForEach-Object { Remove-Item "env:$($_.Name)" }
    $env:PIP_CONFIG_FILE = "nul"
    $env:PIP_NO_INDEX = "1"
    $scratch = Join-Path ([System.IO.Path]::GetTempPath()) ("cladmop-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Force -Path $scratch | Out-Null
    try {
        Say "verifying and unpacking $bundlePath"
        $root = & $py (Join-Path $Here "bundle.py") unpack $bundlePath $scratch
        if ($LASTEXITCODE -ne 0) { Die "$bundlePath`: not installed (see above)" }
        $root = "$root".Trim()
        Initialize-Prefix
        New-Venv $py
        $field = { param($key) (& $py (Join-Path $Here "bundle.py") field $root $key) }
        $torchVersion = "$(& $field 'torch')".Trim()
        $variant = "$(& $field 'torch_variant')".Trim()
        $wheels = Join-Path $root "wheels"
        if ((Get-InstalledTorch) -ne $torchVersion) {
            Say "installing torch $torchVersion from the bundle"
            if (-not (Invoke-Pip install --no-index --find-links $wheels "torch==$torchVersion")) { Fail-WithLog "could not install torch from the bundle" }
        }
        $appWheel = "$(& $field 'app_wheel')".Trim()
        Install-App (Join-Path $wheels $appWheel) @("--no-index", "--find-links", $wheels)
        Copy-Resources (Join-Path $root "resources")
        $launcher = Write-Launchers
        Test-Installation
        foreach ($name in @(& $field 'backbones')) {
            if (-not "$name".Trim()) { continue }
            Say "importing the language model '$name' from the bundle"
            & (Join-Path $Venv "Scripts\cladmop.exe") import-backbone (Join-Path $root "backbones\$name") --name $name --replace 2>&1 | Out-File -Append -Encoding utf8 $Log
            if ($LASTEXITCODE -ne 0) { Fail-WithLog "could not import the bundled backbone $name" }
            Add-Record "backbone=$name"
        }
        $version = Complete-Record $variant "bundle $bundlePath"
        Show-Summary $version "bundle $bundlePath" $launcher
    } finally { Remove-Item -Recurse -Force $scratch -ErrorAction SilentlyContinue }
}

# -- uninstall --------------------------------------------------------------------------------------
function Uninstall-App {
    $ErrorActionPreference = "Continue"  # native tools write to stderr; exit codes are checked
    if (-not (Test-Path $Record)) { Die "nothing to uninstall at $Prefix (no .cladmop-install record)" }
    $lines = Get-Content $Record
    $cladmop = Join-Path $Venv "Scripts\cladmop.exe"
    foreach ($line in $lines) {
        if ($line -like "backbone=*" -and (Test-Path $cladmop)) {
            & $cladmop remove-backbone $line.Substring(9) *> $null
            if ($LASTEXITCODE -eq 0) { Say "removed the imported backbone $($line.Substring(9))" }
        }
    }
    foreach ($line in $lines) {
        if ($line -like "created=*") {
            $path = $line.Substring(8)
            if (Test-Ours $path) { Remove-Item -Force $path; Say "removed $path" }
            elseif (Test-Path $path) { Say "kept $path (changed since install)" }
        } elseif ($line -like "shortcut=*") {
            $path = $line.Substring(9)
            if (Test-OurShortcut $path) { Remove-Item -Force $path; Say "removed $path" }
        } elseif ($line -like "path_added=*") {
            $dir = $line.Substring(11)
            $userPath = [Environment]::GetEnvironmentVariable("Path", "User")
            if ($userPath) {
                $rest = ($userPath -split ";" | Where-Object { $_ -and $_ -ne $dir }) -join ";"
                [Environment]::SetEnvironmentVariable("Path", $rest, "User")
                Say "removed $dir from your PATH"
            }
        }
    }
    if (Test-Path (Join-Path $Venv ".cladmop-venv")) { Remove-Item -Recurse -Force $Venv; Say "removed $Venv" }
    if ((Test-Path $BinDir) -and -not (Get-ChildItem $BinDir)) { Remove-Item $BinDir }
    $prefixCreated = ($lines | Where-Object { $_ -eq "prefix_created=1" }).Count -gt 0
    foreach ($item in "installer", "cladmop-studio.svg", "constraints.txt", "install.log", ".cladmop-install") {
        $p = Join-Path $Prefix $item
        if (Test-Path $p) { Remove-Item -Recurse -Force $p }
    }
    if ($prefixCreated -and -not (Get-ChildItem -Force $Prefix)) { Remove-Item $Prefix }
    $userData = if ($env:CLADMOP_HOME) { $env:CLADMOP_HOME } else { Join-Path $env:USERPROFILE ".cladmop" }
    Say "CLaDMoP Studio uninstalled; your data in $userData was kept (delete it yourself if you wish)"
}

if ($PrintPlan) {
    $plan = Get-TorchPlan
    "variant=$($plan.Variant)"; "spec=$($plan.Spec)"; "index=$($plan.Index)"; "reason=$($plan.Why)"
} elseif ($Uninstall) { Uninstall-App }
elseif ($Bundle) { Install-FromBundle }
else { Install-FromSource }
