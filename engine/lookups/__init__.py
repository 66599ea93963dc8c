"""Drug name -> SMILES / kind and condition name -> ICD-10-CM, for records and training rows alike.

Entry point: `engine.lookups.resolve.Resolver` (`Resolver.default().resolve(trial)`); the parts are
`drugs.DrugLookup` and `conditions.ConditionLookup`. See docs/lookups.md. Imports stay light: nothing
heavy loads until a lookup needs it.
"""
